"""Schedule + IR -> loop nests -> Python source -> compiled callable."""

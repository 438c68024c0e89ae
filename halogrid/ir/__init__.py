"""What a pipeline IS: expressions, Funcs, inputs, and analyses over them."""

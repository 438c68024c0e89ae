"""One lowering pass per module; each exposes one public function."""

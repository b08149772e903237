"""What tests, benchmarks and figures use and the extension never does: synthetic shots and an
exhaustive nearest-neighbour search. Not in the extension's zip."""

"""The maximum-likelihood engine and reconstruction from aligned particles."""

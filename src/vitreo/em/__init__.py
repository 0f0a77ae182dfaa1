"""Physics and math kernels: pure functions on torch tensors, batch dimensions first."""

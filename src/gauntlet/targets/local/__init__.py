"""The local sandbox target: pods are processes in network namespaces, the kernel enforces."""

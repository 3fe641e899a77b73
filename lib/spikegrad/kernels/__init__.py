"""Triton kernels, each beside its pure-PyTorch reference and a dispatch function choosing between them."""

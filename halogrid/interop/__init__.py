"""Interop with array and tensor libraries: `hg.torch` (interop/torch.py: a pipeline as a
torch.library custom op with autograd) and `hg.dask` (interop/dask.py: pipelines over
dask arrays block by block, halos from bounds inference). The core never imports them:
halogrid/__init__.py loads each module on first attribute access.
"""

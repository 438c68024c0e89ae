"""PyTorch on the GPU for ``python -m benchmarks --target cuda`` (the device-system
interface of ``benchmarks/cuda_cell.py``): torch_impl's eager forwards on CUDA tensors,
gradients by autograd (``loss.backward()``).

Inputs are moved to the GPU once, outside the timed calls; results stay there.
float32 means float32: TF32 is turned off for convolutions and matmuls (on by default
for cuDNN convolutions on Ampere and later), as it is for JAX (``jax_cuda``), so every
system computes in the same precision. Peak memory is
``torch.cuda.max_memory_allocated`` (the caching allocator's live tensors).
"""
import torch

from benchmarks.peers import torch_impl
from benchmarks.workloads import WORKLOADS

torch.backends.cudnn.allow_tf32 = False
torch.backends.cuda.matmul.allow_tf32 = False
VERSION = f"{torch.__version__} (CUDA {torch.version.cuda})"
MEMORY = "torch.cuda.max_memory_allocated"


def _builder(forward, grad_names):
    def build(example):
        def fwd(inputs):
            with torch.no_grad():
                return forward(inputs)

        def grad(inputs):
            t = {k: v.detach().requires_grad_(k in grad_names) for k, v in inputs.items()}
            loss = torch_impl._loss(t, forward(t))
            loss.backward()
            return loss.detach(), {n: t[n].grad for n in grad_names}

        return fwd, grad

    return build


BUILDERS = {name: _builder(f, WORKLOADS[name].grad_names)
            for name, f in torch_impl.FORWARDS.items()}


def check():
    """None if torch can use a CUDA device, else why not."""
    if torch.cuda.is_available():
        return None
    return f"not available: torch {torch.__version__} sees no CUDA device"


def to_device(inputs):
    return {name: torch.from_numpy(array).cuda() for name, array in inputs.items()}


def wait(result):
    torch.cuda.synchronize()
    return result


def memory_reset():
    torch.cuda.reset_peak_memory_stats()


def memory_peak():
    return torch.cuda.max_memory_allocated()

"""Training across processes and GPUs with Hugging Face accelerate (optional)."""

from skorch import NeuralNet
from skorch.hf import AccelerateMixin


class AcceleratedNet(AccelerateMixin, NeuralNet):
    """skorch ``NeuralNet`` driven by an ``accelerate.Accelerator``.

    The Accelerator wraps the module in DistributedDataParallel, shards the data
    loaders across the processes started by ``accelerate launch`` and handles
    mixed precision; :class:`~sklearn_contig.losses.ContIGLoss` gathers the
    embeddings of all processes, so negatives come from the global batch.
    """

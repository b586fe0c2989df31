"""ContIGPretrainer: contrastive pretraining of an image encoder against genetics."""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
import torch
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted
from torch import nn

from ..data import CohortDataset, individual_codes, presence
from ..data._schema import validate
from ..losses import ContIGLoss
from ..models import GENETIC_ENCODERS, ContIGModule
from ..models.contig import autocast_context
from ._base import BasePretrainer


class ContIGCriterion(nn.Module):
    """skorch criterion: :class:`ContIGLoss` on the module's output dict.

    Keeps the per-modality losses of the last batch in ``last_parts``.
    """

    def __init__(self, temperature=0.1, loss_weight=0.75, exclude_positive=False):
        super().__init__()
        self.loss = ContIGLoss(temperature, loss_weight, exclude_positive)
        self.last_parts = {}

    def forward(self, y_pred, y_true=None):
        loss, self.last_parts = self.loss(y_pred["pairs"], y_pred["individual"], return_parts=True)
        return loss


class ContIGPretrainer(BasePretrainer):
    """Contrastive image-genetics pretraining (ContIG; Taleb et al., CVPR 2022).

    An image encoder and one encoder per genetic modality are trained so that an
    individual's image embedding lies close to the embeddings of the same
    individual's genetics and far from other individuals' (a cross-modal NT-Xent
    loss per modality, averaged). Missing modalities are handled per row
    (``aggregation="outer"``) or by keeping only complete individuals
    (``"inner"``). Training holds out ``validation_fraction`` of the individuals,
    stops early on their contrastive loss and restores the best epoch: small
    cohorts memorise within a few epochs.

    Parameters
    ----------
    image_encoder : {"resnet50", "resnet18", "mlp"}, default="resnet50"
        Image backbone, trained from scratch; ``"mlp"`` for a flat (sample, feature)
        image variable.
    modalities : list of str, default=None
        Genetic modalities to use; all variables with ``attrs["kind"] == "genetic"``
        when None.
    genetic_encoder : {"None", "H1", "H12"} or dict, default="H1"
        Encoder of each modality (a dict gives one per modality).
    aggregation : {"outer", "inner"}, default="outer"
        ``"outer"``: train on every sample that has at least one selected modality,
        each modality's loss over the rows that have it. ``"inner"``: only samples
        that have all selected modalities.
    temperature : float, default=0.1
    loss_weight : float, default=0.75
        Weight of the image-to-genetics direction (lambda).
    exclude_positive : bool, default=False
        Leave the positive out of the softmax denominator (the paper's Eq. 1).
    projection_dim : int, default=128
    hidden_dim : int, default=2048
        Width of the genetic encoders and of the heads' hidden layer.
    image_size : int, default=None
        Side length images are resized to (on the device); the training images'
        size when None.
    batch_size : int, default=64
    max_epochs : int, default=100
        0 gives an untrained (randomly initialised) encoder, a useful baseline.
    lr : float, default=1e-3
    weight_decay : float, default=1e-6
        Adam's L2 penalty (the authors' setting; 1e-4 helps small cohorts).
    augment : bool or dict, default=True
        Random rotation up to 20 degrees and horizontal flips (the authors'
        setting), applied on the device; a dict overrides or adds
        :class:`~sklearn_contig.models.BatchAugment` arguments, e.g.
        ``{"brightness": 0.1}``; False disables augmentation.
    validation_fraction : float, default=0.1
        Fraction of individuals held out for early stopping (0 disables both).
    patience : int or None, default=5
        Epochs without held-out improvement before stopping.
    device : str, default="auto"
        ``"auto"`` uses a GPU when one is visible.
    precision : {"auto", "32", "bf16"}, default="auto"
        ``"auto"``: bf16 autocast on GPUs that support it, float32 otherwise.
    compile : bool, default=False
        ``torch.compile`` the image backbone.
    num_workers : int, default=0
        DataLoader worker processes reading (and decoding) batches.
    checkpoint_dir : str or Path, default=None
        Write a checkpoint after every epoch (weights, optimizer, history).
    resume : bool, default=False
        Continue from the checkpoint in ``checkpoint_dir`` when there is one.
    random_state : int, RandomState or None, default=None
        Seeds initialisation, the validation split, shuffling and augmentation;
        CPU runs are repeatable.
    callbacks : list of skorch callbacks, default=None
    verbose : int, default=1
        1 prints the skorch epoch table, 2 adds per-batch progress bars.
    accelerator : accelerate.Accelerator, default=None
        Train across the processes started by ``accelerate launch`` (several
        GPUs or machines): the Accelerator shards the data, wraps the model in
        DistributedDataParallel and handles mixed precision (``device`` and
        ``precision`` are then ignored); the loss gathers the embeddings of all
        processes, so negatives come from the global batch. Needs the
        ``accelerate`` package (``pip install sklearn-contig[gpu]``). Dropped from the
        fitted estimator after training.

    Attributes
    ----------
    net_ : skorch.NeuralNet
        The trained network wrapper (``net_.history`` holds per-epoch losses,
        including ``train_loss_<m>`` / ``valid_loss_<m>`` per modality).
    module_ : ContIGModule
    modalities_ : list of str
    best_epoch_ : int or None
        Epoch whose weights were restored.
    embedding_dim_ : int
        Width of the image embedding (2048 for resnet50, 512 for resnet18/mlp).
    fill_values_ : dict of str to ndarray
        Column fill values for partial NaN in present rows (mode for ``snp``,
        mean otherwise), learned on the training rows.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_contig.data import from_arrays
    >>> from sklearn_contig.pretraining import ContIGPretrainer
    >>> rng = np.random.default_rng(0)
    >>> ds = from_arrays(rng.integers(0, 255, (32, 3, 16, 16), dtype=np.uint8),
    ...                  pgs=rng.normal(size=(32, 6)))
    >>> model = ContIGPretrainer(image_encoder="resnet18", batch_size=16, max_epochs=1,
    ...                          hidden_dim=32, projection_dim=8, verbose=0, random_state=0)
    >>> model.fit(ds).transform(ds).shape
    (32, 512)
    """

    _parameter_constraints: dict = {
        **BasePretrainer._parameter_constraints,
        "modalities": [list, None],
        "genetic_encoder": [StrOptions(set(GENETIC_ENCODERS)), dict],
        "aggregation": [StrOptions({"outer", "inner"})],
        "temperature": [Interval(Real, 0, None, closed="neither")],
        "loss_weight": [Interval(Real, 0, 1, closed="both")],
        "exclude_positive": ["boolean"],
        "projection_dim": [Interval(Integral, 1, None, closed="left")],
        "hidden_dim": [Interval(Integral, 1, None, closed="left")],
    }

    def __init__(
        self,
        image_encoder="resnet50",
        *,
        modalities=None,
        genetic_encoder="H1",
        aggregation="outer",
        temperature=0.1,
        loss_weight=0.75,
        exclude_positive=False,
        projection_dim=128,
        hidden_dim=2048,
        image_size=None,
        batch_size=64,
        max_epochs=100,
        lr=1e-3,
        weight_decay=1e-6,
        augment=True,
        validation_fraction=0.1,
        patience=5,
        device="auto",
        precision="auto",
        compile=False,
        num_workers=0,
        checkpoint_dir=None,
        resume=False,
        random_state=None,
        callbacks=None,
        verbose=1,
        accelerator=None,
    ):
        self.image_encoder = image_encoder
        self.modalities = modalities
        self.genetic_encoder = genetic_encoder
        self.aggregation = aggregation
        self.temperature = temperature
        self.loss_weight = loss_weight
        self.exclude_positive = exclude_positive
        self.projection_dim = projection_dim
        self.hidden_dim = hidden_dim
        self.image_size = image_size
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.lr = lr
        self.weight_decay = weight_decay
        self.augment = augment
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.device = device
        self.precision = precision
        self.compile = compile
        self.num_workers = num_workers
        self.checkpoint_dir = checkpoint_dir
        self.resume = resume
        self.random_state = random_state
        self.callbacks = callbacks
        self.verbose = verbose
        self.accelerator = accelerator

    # ------------------------------------------------------------------ hooks
    def _prepare(self, ds):
        modalities = validate(ds, self.modalities, require_image=True, require_genetics=True)
        if isinstance(self.genetic_encoder, dict):
            unknown = set(self.genetic_encoder) - set(modalities)
            if unknown:
                raise ValueError(f"genetic_encoder names modalities not used: {sorted(unknown)}")
            bad = {k: v for k, v in self.genetic_encoder.items() if v not in GENETIC_ENCODERS}
            if bad:
                raise ValueError(f"genetic_encoder values must be in {GENETIC_ENCODERS}, got {bad}")
        masks = presence(ds, modalities)
        stacked = np.stack([masks[m] for m in modalities], axis=1)
        usable = stacked.all(axis=1) if self.aggregation == "inner" else stacked.any(axis=1)
        rows = np.flatnonzero(usable)
        n_ind = len(np.unique(np.asarray(ds["individual"].values)[rows]))
        if n_ind < 2:
            raise ValueError(
                f"aggregation={self.aggregation!r} leaves {n_ind} individual(s) with "
                f"{'all' if self.aggregation == 'inner' else 'any'} of the modalities {modalities}; "
                "at least 2 are needed"
            )
        return modalities, rows

    def _build_module(self, encoder, ds, modalities):
        dims = {m: int(ds[m].shape[1]) for m in modalities}
        kinds = self.genetic_encoder if isinstance(self.genetic_encoder, dict) else self.genetic_encoder
        if isinstance(kinds, dict):
            kinds = {m: kinds.get(m, "H1") for m in modalities}
        return ContIGModule(encoder, dims, kinds, hidden_dim=self.hidden_dim, projection_dim=self.projection_dim)

    def _build_criterion(self):
        return ContIGCriterion(self.temperature, self.loss_weight, self.exclude_positive)

    # ------------------------------------------------------------ embeddings
    @torch.no_grad()
    def _projections(self, X):
        """Per modality: image projection, genetic projection, genetic embedding, mask."""
        check_is_fitted(self, "net_")
        ds = self._as_dataset(X)
        validate(ds, self.modalities_, require_image=True)
        module = self.module_.eval()
        device = next(module.parameters()).device
        data = CohortDataset(ds, self.modalities_, fill=self.fill_values_, codes=individual_codes(ds))
        bs = max(self.batch_size, 64)
        parts = {m: ([], [], [], []) for m in self.modalities_}
        for start in range(0, len(data), bs):
            batch, _ = data.__getitems__(np.arange(start, min(start + bs, len(data))))
            batch = {k: v.to(device) for k, v in batch.items()}
            with autocast_context(device.type, module.autocast_dtype):
                h = module.encode_image(batch["image"])
                for m in self.modalities_:
                    mask = batch[f"{m}_mask"]
                    hg, _ = module.encode_genetics(m, batch[m], mask)
                    zv = module.image_heads[m](h)
                    zg = module.genetic_heads[m](hg)
                    for store, value in zip(parts[m], (zv, zg, hg, mask)):
                        store.append(value.float().cpu() if value.is_floating_point() else value.cpu())
        return {m: tuple(torch.cat(v).numpy() for v in parts[m]) for m in self.modalities_}

    def transform_genetics(self, X) -> dict:
        """Genetic embeddings per modality.

        Parameters
        ----------
        X : xarray.Dataset or Samples

        Returns
        -------
        embeddings : dict of str to ndarray of shape (n_samples, d_m)
            Output of each modality's genetic encoder; rows of samples without
            the modality are NaN.
        """
        out = {}
        for m, (_, _, hg, mask) in self._projections(X).items():
            hg = hg.copy()
            hg[~mask] = np.nan
            out[m] = hg
        return out

    def retrieval_accuracy(self, X, k=1, chunk_size=None) -> dict:
        """Held-out cross-modal retrieval accuracy per modality (image -> genetics).

        Samples are taken in chunks of ``chunk_size`` (default ``batch_size``)
        present rows; within a chunk each image's ``k`` most similar genetic
        embeddings are looked up, and a hit is one of the same individual. Chance
        is about ``k / chunk_size``.

        Returns
        -------
        accuracy : dict of str to float
        """
        chunk = int(chunk_size or self.batch_size)
        ds = self._as_dataset(X)
        individual = individual_codes(ds)
        result = {}
        for m, (zv, zg, _, mask) in self._projections(X).items():
            rows = np.flatnonzero(mask)
            if len(rows) < 2:
                result[m] = float("nan")
                continue
            u = zv[rows] / np.linalg.norm(zv[rows], axis=1, keepdims=True)
            w = zg[rows] / np.linalg.norm(zg[rows], axis=1, keepdims=True)
            ind = individual[rows]
            hits, total = 0, 0
            for start in range(0, len(rows), chunk):
                sl = slice(start, min(start + chunk, len(rows)))
                if sl.stop - sl.start < 2:
                    continue
                sim = u[sl] @ w[sl].T
                kk = min(k, sim.shape[1])
                top = np.argpartition(-sim, kk - 1, axis=1)[:, :kk]
                hits += int((ind[sl][top] == ind[sl][:, None]).any(axis=1).sum())
                total += sim.shape[0]
            result[m] = hits / total if total else float("nan")
        return result

    def contrastive_loss(self, X, chunk_size=None) -> dict:
        """Contrastive loss of the fitted model on ``X``, per modality and overall.

        Computed in eval mode (no augmentation) over consecutive chunks of
        ``chunk_size`` samples (default ``batch_size``), like the validation loss
        during training. Its chance level is about ``ln(chunk_size)``.

        Returns
        -------
        loss : dict of str to float
            One entry per modality and ``"mean"``, the chunk-size-weighted mean
            of the per-chunk losses.
        """
        chunk = int(chunk_size or self.batch_size)
        ds = self._as_dataset(X)
        codes = torch.from_numpy(individual_codes(ds))
        proj = self._projections(X)
        loss_fn = ContIGLoss(self.temperature, self.loss_weight, self.exclude_positive)
        n = ds.sizes["sample"]
        totals = {m: [0.0, 0] for m in self.modalities_}
        overall = [0.0, 0]
        for start in range(0, n, chunk):
            sl = slice(start, min(start + chunk, n))
            pairs = {
                m: (torch.from_numpy(zv[sl]), torch.from_numpy(zg[sl]), torch.from_numpy(mask[sl]))
                for m, (zv, zg, _, mask) in proj.items()
            }
            with torch.no_grad():
                value, parts = loss_fn(pairs, codes[sl], return_parts=True)
            size = sl.stop - sl.start
            for m, v in parts.items():
                totals[m][0] += v * size
                totals[m][1] += size
            if parts:
                overall[0] += float(value) * size
                overall[1] += size
        out = {m: (t / c if c else float("nan")) for m, (t, c) in totals.items()}
        out["mean"] = overall[0] / overall[1] if overall[1] else float("nan")
        return out

    def score(self, X, y=None) -> float:
        """Mean top-1 cross-modal retrieval accuracy (higher is better).

        A label-free score for model selection: ``GridSearchCV`` needs no ``y``.
        """
        acc = self.retrieval_accuracy(X, k=1)
        values = [v for v in acc.values() if np.isfinite(v)]
        return float(np.mean(values)) if values else float("nan")

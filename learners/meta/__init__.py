"""Meta-learning: batched MAML, FO-MAML, Meta-SGD, ANIL, Reptile and Prototypical Networks on torch.func.

Three verbs: wrap a model (``MAML(model, inner_lr=0.01)``), ``meta_fit(task_sampler, iterations=...)``,
``adapt(support_x, support_y, steps=...)`` (or ``adapt_batch`` for many tasks in one computation).
"""

from learners.meta.base import MetaLearner, NotMetaFitted, ValidationPoint
from learners.meta.checkpoint import CheckpointMismatch
from learners.meta.gradient import ANIL, MAML, AdaptedBatch, GradientMetaLearner, MetaSGD
from learners.meta.models import mlp
from learners.meta.protonet import ProtoNet, PrototypeClassifier
from learners.meta.reptile import Reptile
from learners.meta.tasks import (
    GroupedTasks,
    NWayKShotTasks,
    SinusoidTasks,
    TaskBatch,
    TaskSampler,
    gaussian_classes,
)

__all__ = [
    "ANIL",
    "MAML",
    "AdaptedBatch",
    "CheckpointMismatch",
    "GradientMetaLearner",
    "GroupedTasks",
    "MetaLearner",
    "MetaSGD",
    "NWayKShotTasks",
    "NotMetaFitted",
    "ProtoNet",
    "PrototypeClassifier",
    "Reptile",
    "SinusoidTasks",
    "TaskBatch",
    "TaskSampler",
    "ValidationPoint",
    "gaussian_classes",
    "mlp",
]

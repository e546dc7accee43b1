"""Meta-learning: batched MAML, FO-MAML, Meta-SGD, ANIL, Reptile and Prototypical Networks on torch.func.

Three verbs::

    learner = MAML(mlp((1, 40, 40, 1), seed=0), inner_lr=0.01, compile=True)   # wrap a model
    learner.meta_fit(SinusoidTasks(shots=10), iterations=70_000,                 # meta-train
                     validation=SinusoidTasks(shots=10, query=100), patience=10,
                     checkpoint="var/meta/maml.safetensors")
    model = learner.adapt(support_x, support_y, steps=10)       # one task -> plain nn.Module
    many = learner.adapt_batch(xs, ys, steps=10).predict(qx)    # [tasks, n, ...] in one call

Adaptation never builds a second-order graph; meta-training does (unless ``first_order``).
"""

from learners.meta.base import MetaLearner, NotMetaFitted, ValidationPoint
from learners.meta.checkpoint import CheckpointMismatch
from learners.meta.gradient import ANIL, MAML, AdaptedBatch, GradientMetaLearner, MetaSGD
from learners.meta.models import mlp
from learners.meta.protonet import ProtoNet, PrototypeClassifier
from learners.meta.reptile import Reptile
from learners.meta.tasks import (
    GroupedClassTasks,
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
    "GroupedClassTasks",
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

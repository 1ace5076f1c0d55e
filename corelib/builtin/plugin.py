"""The built-in plugin "dl": registers dl's own components through the same hooks
a third-party plugin uses.

Component modules are imported inside the hooks, so importing this module does
no work; the registry calls the hooks on its first lookup.
"""

from __future__ import annotations

from typing import Callable

from corelib.registry.hookspecs import hookimpl

Register = Callable[..., None]


@hookimpl
def register_layers(register: Register) -> None:
    from corelib.builtin.layers.activation import Activation
    from corelib.builtin.layers.dense import Dense
    from corelib.builtin.layers.dropout import Dropout
    from corelib.builtin.layers.reshaping import Flatten, Reshape

    from corelib.layers.input_layer import InputLayer

    for cls in (Dense, Activation, Dropout, Flatten, Reshape, InputLayer):
        register(cls)

    from corelib.builtin.layers.dot import Dot
    from corelib.builtin.layers.merge import Add, Average, Concatenate, Maximum, Minimum, Multiply, Subtract

    for cls in (Concatenate, Add, Subtract, Multiply, Average, Maximum, Minimum, Dot):
        register(cls)

    # images and sequences (issue 3); aliases are Keras's
    from corelib.builtin.layers import global_pooling as gp
    from corelib.builtin.layers import pooling as pl
    from corelib.builtin.layers.batchnorm import BatchNormalization
    from corelib.builtin.layers.conv import Conv1D, Conv2D
    from corelib.builtin.layers.padding import Cropping2D, ZeroPadding2D
    from corelib.builtin.layers.spatial_dropout import SpatialDropout1D, SpatialDropout2D
    from corelib.builtin.layers.upsampling import UpSampling2D

    register(Conv1D, aliases=("Convolution1D",))
    register(Conv2D, aliases=("Convolution2D",))
    register(pl.MaxPooling1D, aliases=("MaxPool1D",))
    register(pl.MaxPooling2D, aliases=("MaxPool2D",))
    register(pl.AveragePooling1D, aliases=("AvgPool1D",))
    register(pl.AveragePooling2D, aliases=("AvgPool2D",))
    register(gp.GlobalMaxPooling1D, aliases=("GlobalMaxPool1D",))
    register(gp.GlobalMaxPooling2D, aliases=("GlobalMaxPool2D",))
    register(gp.GlobalAveragePooling1D, aliases=("GlobalAvgPool1D",))
    register(gp.GlobalAveragePooling2D, aliases=("GlobalAvgPool2D",))
    for cls in (BatchNormalization, ZeroPadding2D, Cropping2D, UpSampling2D, SpatialDropout1D, SpatialDropout2D):
        register(cls)

    # sequences (issue 4)
    from corelib.builtin.layers.bidirectional import Bidirectional
    from corelib.builtin.layers.embedding import Embedding
    from corelib.builtin.layers.gru import GRU
    from corelib.builtin.layers.lstm import LSTM
    from corelib.builtin.layers.recurrent import SimpleRNN
    from corelib.builtin.layers.repeat_vector import RepeatVector
    from corelib.builtin.layers.time_distributed import TimeDistributed

    for cls in (SimpleRNN, LSTM, GRU, Bidirectional, Embedding, TimeDistributed, RepeatVector):
        register(cls)

    # issue 13: activation layers, Conv2DTranspose, LayerNormalization
    from corelib.builtin.layers import activation_layers as al
    from corelib.builtin.layers.conv_transpose import Conv2DTranspose
    from corelib.builtin.layers.layer_normalization import LayerNormalization

    for cls in (al.ReLU, al.LeakyReLU, al.PReLU, al.ELU, al.Softmax, LayerNormalization):
        register(cls)
    register(Conv2DTranspose, aliases=("Convolution2DTranspose",))

    # issue 13: preprocessing and augmentation layers
    from corelib.builtin.layers import affine_augmentation as affine
    from corelib.builtin.layers import augmentation as aug
    from corelib.builtin.layers.preprocessing import Normalization, Rescaling, Resizing

    for cls in (Rescaling, Resizing, Normalization, aug.RandomFlip, affine.RandomRotation, affine.RandomZoom,
                affine.RandomTranslation, aug.RandomCrop, aug.RandomContrast):
        register(cls)


@hookimpl
def register_activations(register: Register) -> None:
    from corelib.builtin.activations import BUILTIN

    for cls, aliases in BUILTIN:
        instance = cls()
        register(instance, name=instance.name, aliases=aliases, description=(cls.__doc__ or "").splitlines()[0])


@hookimpl
def register_initializers(register: Register) -> None:
    from corelib.builtin import initializers as m

    for cls in (
        m.GlorotUniform, m.GlorotNormal, m.HeUniform, m.HeNormal, m.LecunUniform, m.LecunNormal,
        m.Orthogonal, m.Zeros, m.Ones, m.Constant, m.RandomNormal, m.RandomUniform,
        m.TruncatedNormal, m.VarianceScaling,
    ):
        register(cls)


@hookimpl
def register_regularizers(register: Register) -> None:
    from corelib.builtin.regularizers import L1, L2, L1L2

    register(L1)
    register(L2)
    register(L1L2, aliases=("l1_l2",))


@hookimpl
def register_losses(register: Register) -> None:
    from corelib.builtin import losses as m

    register(m.BinaryCrossentropy)
    register(m.CategoricalCrossentropy)
    register(m.SparseCategoricalCrossentropy)
    register(m.MeanSquaredError, aliases=("mse", "MSE"))
    register(m.MeanAbsoluteError, aliases=("mae", "MAE"))
    register(m.Huber, aliases=("huber_loss",))

    from corelib.builtin.ctc import CTC

    register(CTC)

    # issue 13: more Keras losses; snake_case aliases ("kl_divergence", "log_cosh", ...) come automatically
    from corelib.builtin import losses_more as more

    register(more.KLDivergence, aliases=("kld", "KLD"))
    for cls in (more.Poisson, more.LogCosh, more.Hinge, more.SquaredHinge, more.CategoricalHinge,
                more.BinaryFocalCrossentropy, more.CategoricalFocalCrossentropy):
        register(cls)


@hookimpl
def register_optimizers(register: Register) -> None:
    from corelib.builtin.optimizers.adagrad import Adagrad
    from corelib.builtin.optimizers.adam import Adam, AdamW
    from corelib.builtin.optimizers.nadam import Nadam
    from corelib.builtin.optimizers.rmsprop import RMSprop
    from corelib.builtin.optimizers.sgd import SGD

    register(SGD)
    register(RMSprop, aliases=("rmsprop",))
    register(Adagrad)
    register(Adam)
    register(AdamW, aliases=("adamw",))
    register(Nadam)

    # issue 13: more Keras optimizers (kernels in corelib/kernels/optim_more.pyx)
    from corelib.builtin.optimizers.adadelta import Adadelta
    from corelib.builtin.optimizers.adamax import Adamax
    from corelib.builtin.optimizers.ftrl import Ftrl
    from corelib.builtin.optimizers.lion import Lion

    for cls in (Adamax, Adadelta, Lion, Ftrl):
        register(cls)


@hookimpl
def register_schedules(register: Register) -> None:
    from corelib.builtin.optimizers import schedules as m

    for cls in (m.ExponentialDecay, m.CosineDecay, m.InverseTimeDecay, m.PiecewiseConstantDecay):
        register(cls)


@hookimpl
def register_metrics(register: Register) -> None:
    from corelib.builtin import metrics as m

    register(m.Accuracy, aliases=("accuracy", "acc"))
    register(m.BinaryAccuracy)
    register(m.CategoricalAccuracy)
    register(m.SparseCategoricalAccuracy)
    register(m.TopKCategoricalAccuracy)
    register(m.SparseTopKCategoricalAccuracy)
    register(m.MeanAbsoluteError, aliases=("mae", "MAE"))
    register(m.MeanSquaredError, aliases=("mse", "MSE"))
    register(m.RootMeanSquaredError, aliases=("rmse",))

    # issue 13: Keras's classification and regression scores; snake_case aliases ("auc",
    # "precision", "recall") come automatically, the others are Keras's spellings
    from corelib.builtin.metrics_auc import AUC
    from corelib.builtin.metrics_classification import Precision, Recall
    from corelib.builtin.metrics_scores import F1Score, FBetaScore, R2Score

    for cls in (AUC, Precision, Recall):
        register(cls)
    register(F1Score, aliases=("f1_score",))
    register(FBetaScore, aliases=("fbeta_score",))
    register(R2Score, aliases=("r2_score",))


@hookimpl
def register_callbacks(register: Register) -> None:
    from corelib.callbacks.backup import BackupAndRestore
    from corelib.builtin.callbacks.csv_logger import CSVLogger
    from corelib.builtin.callbacks.early_stopping import EarlyStopping
    from corelib.callbacks.history import History
    from corelib.builtin.callbacks.learning_rate import LearningRateScheduler, ReduceLROnPlateau
    from corelib.callbacks.interrupt import StopOnSignal
    from corelib.callbacks.progbar import ProgbarLogger
    from corelib.builtin.callbacks.terminate_on_nan import TerminateOnNaN

    for cls in (History, EarlyStopping, TerminateOnNaN, LearningRateScheduler, ReduceLROnPlateau,
                CSVLogger, ProgbarLogger, BackupAndRestore, StopOnSignal):
        register(cls)

    from corelib.builtin.callbacks.lambda_callback import LambdaCallback
    from corelib.builtin.callbacks.model_checkpoint import ModelCheckpoint
    from corelib.builtin.callbacks.tensorboard import TensorBoard

    for cls in (ModelCheckpoint, LambdaCallback, TensorBoard):
        register(cls)


@hookimpl
def register_onnx_exporters(register: Register) -> None:
    from corelib.builtin.onnx_exporters import builtin_exporters

    for name, exporter in builtin_exporters():
        register(name, exporter, description=f"{name} to ONNX: {_first_line(exporter)}")


def _first_line(obj: object) -> str:
    return (obj.__doc__ or "").strip().splitlines()[0] if obj.__doc__ else ""

"""A dense layer split into independent groups (ConvBERT's grouped linear)."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_encoders")
class GroupedDense(keras.layers.Layer):
    """`num_groups` independent dense maps over equal slices of the features.

    The input features are cut into `num_groups` contiguous slices; slice `g`
    goes through its own `(in / G, units / G)` kernel, and the results are
    concatenated in group order before one shared bias is added:

        y = concat_g(x[..., g*in/G:(g+1)*in/G] @ kernel[g]) + bias

    It has `1 / num_groups` of the parameters and FLOPs of a `Dense` of the
    same width. ConvBERT-medium-small uses it (G=2) for both feed-forward
    projections. The kernel has exactly the layout of Hugging Face's
    `GroupedLinearLayer.weight` and of the original TensorFlow `g_dense`
    kernel, `(G, in / G, units / G)`, so checkpoints copy in without a
    transpose.

    Args:
        units: int. Output width; divisible by `num_groups`.
        num_groups: int. Number of groups; must divide the input width too.
        use_bias: bool. Whether to add the `(units,)` bias.
        kernel_initializer: initializer of the kernel.
        bias_initializer: initializer of the bias.

    Example:
    >>> import numpy as np
    >>> layer = GroupedDense(units=6, num_groups=2)
    >>> tuple(layer(np.ones((2, 5, 4), "float32")).shape)
    (2, 5, 6)
    >>> tuple(layer.kernel.shape)
    (2, 2, 3)
    """

    def __init__(
        self,
        units,
        num_groups,
        use_bias=True,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        **kwargs,
    ):
        super().__init__(**kwargs)
        if num_groups < 1 or units % num_groups:
            raise ValueError(
                f"`units` ({units}) must be divisible by `num_groups` "
                f"({num_groups})."
            )
        self.units = units
        self.num_groups = num_groups
        self.use_bias = use_bias
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)

    def build(self, input_shape):
        input_dim = input_shape[-1]
        if input_dim is None or input_dim % self.num_groups:
            raise ValueError(
                f"The input width ({input_dim}) of {self.name} must be known "
                f"and divisible by `num_groups` ({self.num_groups})."
            )
        self.kernel = self.add_weight(
            name="kernel",
            shape=(
                self.num_groups,
                input_dim // self.num_groups,
                self.units // self.num_groups,
            ),
            initializer=self.kernel_initializer,
        )
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight(
                name="bias", shape=(self.units,), initializer=self.bias_initializer
            )
        self.built = True

    def call(self, inputs):
        groups, group_in = ops.shape(self.kernel)[0], ops.shape(self.kernel)[1]
        leading = ops.shape(inputs)[:-1]
        # (..., in) -> (..., G, in/G): slice g is features g*in/G:(g+1)*in/G.
        x = ops.reshape(inputs, (*leading, groups, group_in))
        y = ops.einsum("...gi,gio->...go", x, ops.cast(self.kernel, x.dtype))
        # (..., G, units/G) -> (..., units): group outputs side by side.
        y = ops.reshape(y, (*leading, self.units))
        if self.use_bias:
            y = y + ops.cast(self.bias, y.dtype)
        return y

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "units": self.units,
                "num_groups": self.num_groups,
                "use_bias": self.use_bias,
                "kernel_initializer": keras.initializers.serialize(
                    self.kernel_initializer
                ),
                "bias_initializer": keras.initializers.serialize(
                    self.bias_initializer
                ),
            }
        )
        return config

r"""Curvature without forming the matrix: Hessian- and Gauss–Newton-vector products.

Second-order methods (Goodfellow, Bengio & Courville, *Deep Learning*, §8.6) need the
curvature of the cost J(θ) only through products with a vector. Here, for a list of
parameter tensors θ and a matching list of vectors v (one flat vector ``vec v`` split like
the parameters):

* **Hessian-vector product** (Pearlmutter 1994), by double backward:
  ``H v = ∇θ (∇θJ(θ)ᵀ v)`` — one backward pass that records its own graph, then a second
  one through it; about the cost of two gradients.
* **Gauss–Newton-vector product** (Schraudolph 2002; Martens 2010, §4.2): for a network
  z = f(θ) and a loss L(z) convex in z, ``G v = Jᵀ H_L J v`` with ``J = ∂z/∂θ`` and
  ``H_L = ∇²_z L``. ``J v`` comes from the double-backward trick (``Jᵀu`` is linear in u,
  so ``J v = ∇_u (Jᵀu)ᵀ v``), ``H_L (J v)`` from a double backward through L alone, and
  ``Jᵀ(·)`` from one ordinary backward pass. G is positive semi-definite whenever L is
  convex in z, which makes it the curvature of choice for Hessian-free optimization.
  :class:`GaussNewton` builds the three graphs once for a minibatch, after which each
  product costs two backward passes, and gives the quadratic forms ``dᵢᵀ G dⱼ`` of a few
  directions (K-FAC's choice of step size and momentum).
* **The dense Hessian** ``∇²J(θ)`` of a small model, n backward passes batched with
  ``vmap`` (``torch.autograd.grad(..., is_grads_batched=True)``), a chunk of basis vectors
  at a time so that memory stays bounded.

These take ``loss_fn``/``outputs_fn`` callables that build a graph (they must not call
``backward`` themselves). An optimizer, though, only has torch.optim's *closure*, which
zeroes the gradients, back-propagates and returns the loss, its graph gone.
:func:`closure_hessian_vector_product` differentiates the closure's backward pass in forward
mode instead ("forward-over-reverse", Pearlmutter 1994): the parameters are made dual
numbers θ + v·ε for the duration of one call, so every gradient the closure's autograd
backward pass computes carries the tangent ``d/dε ∇J(θ + εv) = H v`` exactly.
:func:`closure_hessian` stacks n of them into the dense Hessian (Newton's method).
This needs the closure's backward pass to be autograd's, made of ops that forward mode
can differentiate (nearly all are).

References:
    B. A. Pearlmutter, "Fast exact multiplication by the Hessian", Neural Computation 6
    (1994). N. N. Schraudolph, "Fast curvature matrix-vector products for second-order
    gradient descent", Neural Computation 14 (2002). J. Martens, "Deep learning via
    Hessian-free optimization", ICML 2010.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.autograd.forward_ad as forward_ad

__all__ = [
    "GaussNewton",
    "closure_hessian",
    "closure_hessian_vector_product",
    "dot",
    "exact_hessian",
    "flatten",
    "gauss_newton_vector_product",
    "hessian_operator",
    "hessian_vector_product",
    "require_autograd",
    "unflatten",
]

Tensors = Sequence[torch.Tensor]


# -- flat vectors ------------------------------------------------------------------------


def flatten(tensors: Tensors) -> torch.Tensor:
    """``vec``: the tensors' elements concatenated into one vector, in order."""
    return torch.cat([t.reshape(-1) for t in tensors])


def unflatten(vector: torch.Tensor, like: Tensors) -> list[torch.Tensor]:
    """The inverse of :func:`flatten`: views of ``vector`` shaped like ``like``."""
    sizes = [t.numel() for t in like]
    if vector.dim() != 1 or vector.numel() != sum(sizes):
        raise ValueError(
            f"vector must be 1-D with {sum(sizes)} elements (the parameters' total), "
            f"got shape {tuple(vector.shape)}"
        )
    return [part.view_as(t) for part, t in zip(vector.split(sizes), like, strict=True)]


def dot(xs: Tensors, ys: Tensors) -> torch.Tensor:
    """``Σᵢ ⟨xᵢ, yᵢ⟩ = vec(x)ᵀ vec(y)`` as a 0-d tensor on the tensors' device (one BLAS dot
    per pair: no elementwise product is materialized)."""
    return torch.stack(
        [torch.dot(x.reshape(-1), y.reshape(-1)) for x, y in zip(xs, ys, strict=True)]
    ).sum()


def _check_vectors(params: Tensors, vectors: Tensors) -> None:
    if not params:
        raise ValueError("params is empty: nothing to differentiate with respect to")
    if len(vectors) != len(params):
        raise ValueError(
            f"vectors must hold one tensor per parameter ({len(params)}), got {len(vectors)}"
        )
    for index, (param, vector) in enumerate(zip(params, vectors, strict=True)):
        if vector.shape != param.shape:
            raise ValueError(
                f"vectors[{index}] has shape {tuple(vector.shape)}, "
                f"its parameter has shape {tuple(param.shape)}"
            )


def _check_scalar(value: torch.Tensor, name: str) -> torch.Tensor:
    if not isinstance(value, torch.Tensor) or value.numel() != 1:
        shape = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
        raise ValueError(f"{name} must return a scalar loss tensor, got {shape}")
    return value.reshape(())


def _grad(
    outputs: Tensors, inputs: Tensors, grad_outputs: Tensors, create_graph: bool = False
) -> list[torch.Tensor]:
    """``Σ_k (∂outputs_k/∂inputs)ᵀ grad_outputs_k``, zeros where nothing depends on inputs."""
    pairs = [(o, g) for o, g in zip(outputs, grad_outputs, strict=True) if o.requires_grad]
    if not pairs:
        return [torch.zeros_like(t) for t in inputs]
    result = torch.autograd.grad(
        [o for o, _ in pairs],
        list(inputs),
        grad_outputs=[g for _, g in pairs],
        create_graph=create_graph,
        retain_graph=True,
        allow_unused=True,
        materialize_grads=True,
    )
    return list(result)


# -- products from a graph ---------------------------------------------------------------


def hessian_vector_product(
    loss_fn: Callable[[], torch.Tensor], params: Tensors, vectors: Tensors
) -> list[torch.Tensor]:
    """``H v`` with ``H = ∇²J(θ)`` at the current parameters, by double backward.

    Args:
        loss_fn: builds and returns the scalar loss J(θ) (without calling ``backward``).
        params: the tensors θ (requiring grad).
        vectors: v, one tensor shaped like each parameter.

    Returns:
        ``H v`` split like the parameters (detached).

    Example:
        >>> import torch
        >>> w = torch.tensor([1.0, 2.0], requires_grad=True)
        >>> hessian_vector_product(lambda: (w**3).sum(), [w], [torch.ones(2)])
        [tensor([ 6., 12.])]
    """
    _check_vectors(params, vectors)
    with torch.enable_grad():
        loss = _check_scalar(loss_fn(), "loss_fn")
        grads = _grad([loss], params, [torch.ones_like(loss)], create_graph=True)
        return _grad(grads, params, vectors)


class GaussNewton:
    """The generalized Gauss–Newton matrix ``G = Jᵀ H_L J`` of one minibatch, as an operator.

    Building it runs the network once (z = f(θ)), back-propagates a zero probe u with its
    own graph (``Jᵀu``, linear in u, so ``J v = ∇_u (Jᵀu)ᵀ v``) and takes ∇_z L with its
    graph. Those graphs are kept, so each product ``G v`` then costs two backward passes
    (``J v`` through the first graph, ``Jᵀ(H_L J v)`` through the network's) instead of the
    five of building everything again; drop the object to free them.

    Args:
        outputs_fn: builds the network outputs z = f(θ) (e.g. logits), any shape.
        loss_of_outputs: L(z), the scalar loss as a function of those outputs.
        params: the tensors θ.
        probe: z ↦ the value of u the build back-propagates (zeros when ``None``). The
            products do not depend on it (``Jᵀu`` is linear in u), so the build's backward
            pass can do other work on the way: K-FAC records the statistics of its sampled
            Fisher on it, which spares their own forward and backward passes.
    """

    def __init__(
        self,
        outputs_fn: Callable[[], torch.Tensor],
        loss_of_outputs: Callable[[torch.Tensor], torch.Tensor],
        params: Tensors,
        probe: Callable[[torch.Tensor], torch.Tensor] | None = None,
    ) -> None:
        if not params:
            raise ValueError("params is empty: nothing to differentiate with respect to")
        self.params = list(params)
        with torch.enable_grad():
            self.outputs = outputs_fn()
            start = None if probe is None else probe(self.outputs.detach())
            if start is None:
                self.probe = torch.zeros_like(self.outputs, requires_grad=True)
            else:
                self.probe = start.detach().requires_grad_()
            self.transposed = _grad([self.outputs], self.params, [self.probe], create_graph=True)
            self.z = self.outputs.detach().requires_grad_()
            loss = _check_scalar(loss_of_outputs(self.z), "loss_of_outputs")
            self.loss_grad = _grad([loss], [self.z], [torch.ones_like(loss)], create_graph=True)

    def jacobian_times(self, vectors: Tensors) -> torch.Tensor:
        """``J v``, shaped like the outputs z."""
        _check_vectors(self.params, vectors)
        with torch.enable_grad():
            return _grad(self.transposed, [self.probe], vectors)[0]

    def output_curvature_times(self, u: torch.Tensor) -> torch.Tensor:
        """``H_L u`` with ``H_L = ∇²_z L``."""
        with torch.enable_grad():
            return _grad(self.loss_grad, [self.z], [u])[0]

    def transpose_times(self, w: torch.Tensor) -> list[torch.Tensor]:
        """``Jᵀ w``, split like the parameters."""
        with torch.enable_grad():
            return _grad([self.outputs], self.params, [w])

    def __call__(self, vectors: Tensors) -> list[torch.Tensor]:
        """``G v`` split like the parameters (detached)."""
        return self.transpose_times(self.output_curvature_times(self.jacobian_times(vectors)))

    def quadratic_form(self, directions: Sequence[Tensors]) -> torch.Tensor:
        """The k × k matrix ``[dᵢᵀ G dⱼ] = [(J dᵢ)ᵀ H_L (J dⱼ)]`` of k directions, from k
        products with J and k with H_L (no product with Jᵀ)."""
        images = [self.jacobian_times(d) for d in directions]
        curved = [self.output_curvature_times(image) for image in images]
        rows = [torch.stack([torch.sum(a * b) for b in curved]) for a in images]
        gram = torch.stack(rows)
        return 0.5 * (gram + gram.T)


def gauss_newton_vector_product(
    outputs_fn: Callable[[], torch.Tensor],
    loss_of_outputs: Callable[[torch.Tensor], torch.Tensor],
    params: Tensors,
    vectors: Tensors,
) -> list[torch.Tensor]:
    """``G v = Jᵀ H_L J v``: the generalized Gauss–Newton matrix times v (one product;
    :class:`GaussNewton` keeps the graphs for many).

    Args:
        outputs_fn: builds the network outputs z = f(θ) (e.g. logits), any shape.
        loss_of_outputs: L(z), the scalar loss as a function of those outputs.
        params: the tensors θ.
        vectors: v, one tensor shaped like each parameter.

    Returns:
        ``G v`` split like the parameters (detached).
    """
    _check_vectors(params, vectors)
    return GaussNewton(outputs_fn, loss_of_outputs, params)(vectors)


def hessian_operator(
    loss_fn: Callable[[], torch.Tensor], params: Tensors
) -> tuple[torch.Tensor, torch.Tensor, Callable[[torch.Tensor], torch.Tensor]]:
    """J(θ), ``vec ∇J(θ)`` and the linear map ``vec v ↦ vec(H v)`` at the current θ.

    The gradient's graph is built once and kept by the returned map, so each product is a
    single backward pass through it (the double backward of :func:`hessian_vector_product`
    without rebuilding the loss and its gradient): k products cost about one gradient and
    k backward passes. An argument of shape ``(k, n)`` holds one vector per row; its k
    products come from one vectorised call (``is_grads_batched``), returned as rows.

    Args:
        loss_fn: builds and returns the scalar loss J(θ) (without calling ``backward``).
        params: the tensors θ (requiring grad).

    Returns:
        the loss and the gradient (both detached), and the map ``v ↦ H v`` on flat vectors.
    """
    if not params:
        raise ValueError("params is empty: nothing to differentiate with respect to")
    with torch.enable_grad():
        loss = _check_scalar(loss_fn(), "loss_fn")
        gradient = flatten(_grad([loss], params, [torch.ones_like(loss)], create_graph=True))
    n = gradient.numel()

    def product(vector: torch.Tensor) -> torch.Tensor:
        batched = vector.dim() == 2
        if vector.shape[-1] != n or vector.dim() not in (1, 2):
            raise ValueError(
                f"vector must have shape (n,) or (k, n) with n={n}, got {tuple(vector.shape)}"
            )
        if not gradient.requires_grad:  # J is linear in θ: H = 0
            return torch.zeros_like(vector)
        rows = torch.autograd.grad(
            gradient,
            list(params),
            grad_outputs=vector,
            is_grads_batched=batched,
            retain_graph=True,
            allow_unused=True,
            materialize_grads=True,
        )
        if batched:
            return torch.cat([row.reshape(len(vector), -1) for row in rows], dim=1)
        return flatten(rows)

    return loss.detach(), gradient.detach(), product


def exact_hessian(
    loss_fn: Callable[[], torch.Tensor],
    params: Tensors,
    chunk_size: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> torch.Tensor:
    """The dense Hessian ``∇²J(θ)`` (n × n, n = total number of parameter elements),
    ordered as :func:`flatten` orders the parameters. Memory and time grow as n²: for small
    models only.

    One backward pass with its own graph gives ∇J (:func:`hessian_operator`); then the rows
    ``eᵢᵀ∇²J`` come from backward passes through it batched with ``vmap``, ``chunk_size``
    basis vectors at a time (all n at once when ``None``): the batched pass holds
    ``chunk_size`` copies of the backward pass's intermediate values, so the chunk bounds
    the memory. ``progress(done, n)`` is called after each chunk."""
    if chunk_size is not None and (
        not isinstance(chunk_size, int) or isinstance(chunk_size, bool) or chunk_size < 1
    ):
        raise ValueError(f"Invalid chunk_size: {chunk_size!r} (expected an int >= 1 or None)")
    _, gradient, product = hessian_operator(loss_fn, params)
    n = gradient.numel()
    hessian = gradient.new_empty(n, n)
    step = n if chunk_size is None else min(chunk_size, n)
    for start in range(0, n, step):
        stop = min(start + step, n)
        basis = gradient.new_zeros(stop - start, n)
        basis[:, start:stop].fill_diagonal_(1.0)
        hessian[start:stop] = product(basis)
        if progress is not None:
            progress(stop, n)
    return hessian


# -- products through a closure ----------------------------------------------------------


def closure_hessian_vector_product(
    closure: Callable[[], torch.Tensor], params: Tensors, vectors: Tensors
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """One call of a torch.optim closure that also yields ``H v``.

    The parameters are dual numbers θ + v·ε during the call; the gradient reaching each
    parameter in the closure's ``backward`` carries the tangent ``H v`` (forward-mode
    differentiation of the backward pass). The parameters' values are unchanged, and the
    closure leaves ∇J(θ) in ``.grad`` as usual.

    Returns:
        the closure's loss and ``H v`` split like the parameters.

    Raises:
        RuntimeError: if the closure's gradients do not come from an autograd backward
            pass that forward mode can differentiate: deepdescent's hand-written
            back-propagation (``Model.backprop = "manual"``), or an op whose backward
            lacks a forward-mode formula (``F.mse_loss`` with ``reduction="mean"`` in
            torch ≤ 2.15, pytorch/pytorch#123996).
    """
    _check_vectors(params, vectors)
    products = [torch.zeros_like(p) for p in params]
    reached = [False] * len(params)

    def recorder(index: int) -> Callable[[torch.Tensor], None]:
        def record(grad: torch.Tensor) -> None:
            reached[index] = True
            tangent = forward_ad.unpack_dual(grad).tangent
            if tangent is not None:
                products[index].add_(tangent)

        return record

    with forward_ad.dual_level():
        with torch.no_grad():
            for param, vector in zip(params, vectors, strict=True):
                param.copy_(forward_ad.make_dual(param.detach().clone(), vector))
        handles = [p.register_hook(recorder(i)) for i, p in enumerate(params)]
        try:
            with torch.enable_grad():
                loss = closure()
        except RuntimeError as error:
            if "forward AD" not in str(error) and "ZeroTensor" not in str(error):
                raise
            raise RuntimeError(_NOT_FORWARD_DIFFERENTIABLE + f" (torch: {error})") from error
        finally:
            for handle in handles:
                handle.remove()
    if any(p.grad is not None and not hit for p, hit in zip(params, reached, strict=True)):
        raise RuntimeError(_NOT_FORWARD_DIFFERENTIABLE)
    return loss, products


_NOT_FORWARD_DIFFERENTIABLE = (
    "Hessian-vector products through a closure differentiate its autograd backward pass "
    "in forward mode, and this closure's gradients did not come from one that can be: "
    "for a deepdescent Model set model.backprop = 'autograd' (the hand-written "
    "back-propagation is not differentiable); torch's F.mse_loss with reduction='mean' "
    "also fails (pytorch/pytorch#123996): write the mean of squares out"
)


def closure_hessian(
    closure: Callable[[], torch.Tensor],
    params: Tensors,
    progress: Callable[[int, int], None] | None = None,
) -> torch.Tensor:
    """The dense Hessian through a closure: column j is ``H e_j`` from
    :func:`closure_hessian_vector_product`, so n closure calls for n parameter elements
    (``progress(j + 1, n)`` after each)."""
    if not params:
        raise ValueError("params is empty: nothing to differentiate with respect to")
    first = params[0]
    n = sum(p.numel() for p in params)
    hessian = torch.empty(n, n, dtype=first.dtype, device=first.device)
    basis = torch.zeros(n, dtype=first.dtype, device=first.device)
    for column in range(n):
        basis[column] = 1.0
        _, products = closure_hessian_vector_product(closure, params, unflatten(basis, params))
        hessian[:, column] = flatten(products)
        basis[column] = 0.0
        if progress is not None:
            progress(column + 1, n)
    return hessian


def require_autograd(model: Any, name: str) -> None:
    """Make a deepdescent ``Model`` compute gradients with autograd, which closure
    curvature products differentiate: ``backprop="auto"`` becomes ``"autograd"``;
    ``"manual"`` (the hand-written back-propagation) is refused with a ValueError naming
    the method ``name`` that needs it."""
    backprop = getattr(model, "backprop", None)
    if backprop == "manual":
        raise ValueError(
            f"{name} differentiates autograd's backward pass, and model.backprop is "
            "'manual': set it to 'autograd' (or 'auto')"
        )
    if backprop == "auto":
        model.backprop = "autograd"

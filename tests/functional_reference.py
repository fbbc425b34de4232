"""An independent reference for the terms of any architecture: transformers' own forward pass, made bilinear.

The terms (method.md section 3) are bilinear forms of the weights, in which norms appear only
as gains, activations and routers not at all, and attention as q.k and v->o before softmax.
So transformers' forward code is run on one layer of the model with exactly those
simplifications, and every term is read off what it computes:

- every norm module becomes `x * gain`, the gain found by running the module itself on a
  zero-mean, unit-RMS input (so Gemma's 1 + w, per-head q/k norms and any placement follow
  from the family's own code), and every bias is set to zero;
- attention goes through a registered attention function that records q, k, v as transformers
  hands them over (rotary embeddings at position 0, i.e. none) and lets each token attend to
  itself only, so the layer adds `o(v(x))`; or returns zeros, to switch attention off;
- activation modules become 0 (FFN off), or identity / 1 (whichever makes the FFN linear: a
  gated FFN then computes down(up x)); sigmoid output gates become 1;
- a mixture routes every token to every expert with weight 1 (the sum the MoE term is).

The layer's input is replaced by the probe embeddings X, and its output compared with X:
a pre-norm layer adds the branch to X; a post-norm layer (BERT) normalises the sum, which the
recorded gains undo. Then M_a = sum_h q_h k_h^T, M_b = (attention's addition) X^T and
M_f = (the FFN's addition) X^T.
"""
from __future__ import annotations

import contextlib

import torch

_STATE: dict = {}


class _Stop(Exception):
    pass


def _capture(module, query, key, value, attention_mask=None, **kwargs):
    rep = query.shape[1] // key.shape[1]
    if _STATE.get("norms") is not None:  # inside the layer under test
        _STATE["qkv"].append((module, query.detach().double(), key.detach().double(), value.detach().double()))
    out = value.repeat_interleave(rep, dim=1) if rep > 1 else value
    if _STATE["attention"] == "off":
        out = torch.zeros_like(out)
    return out.transpose(1, 2).contiguous(), None


def _register() -> None:
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

    AttentionInterface.register("rfp_capture", _capture)
    AttentionMaskInterface.register("rfp_capture", sdpa_mask)  # DeepSeek-V3.2's sparse attention reads the mask


def _is_norm(m) -> bool:
    if any(type(c).__name__.endswith("Norm") for c in m.children()):  # a wrapper of norms (StableLM's per-head)
        return False
    return type(m).__name__.endswith(("Norm", "Norm1P"))  # Nemotron's LayerNorm1P: (1 + w), like Gemma's


def _is_activation(m) -> bool:
    mod = type(m).__module__
    return mod.startswith("transformers.activations") or mod == "torch.nn.modules.activation"


def _linear_norm(m):
    orig = m.forward
    gains: dict[int, torch.Tensor] = {}

    def forward(x, *args, **kw):
        if args or kw:
            return orig(x, *args, **kw)
        w = x.shape[-1]
        if w not in gains:
            probe = torch.tensor([1.0, -1.0] * (w // 2) + [0.0] * (w % 2), dtype=x.dtype)
            with torch.no_grad():
                gains[w] = (orig(probe[None])[0] / torch.where(probe == 0, 1.0, probe)).detach()
        g = gains[w]
        if _STATE.get("norms") is not None:
            _STATE["norms"].append(g.double())
        return x * g

    m.forward = forward


def _activate(x):
    mode = _STATE["ffn"]
    return torch.zeros_like(x) if mode == "off" else torch.ones_like(x) if mode == "ones" else x.contiguous()


def _activation(m):
    m.forward = lambda x, *args, **kw: _activate(x)


def _mixer_off(m):
    """Mamba mixers beside attention in the same layer (Falcon-H1) add to the stream; the terms read
    the attention and FFN only, so the reference switches them off."""
    m.forward = lambda hidden_states, *args, **kw: torch.zeros_like(hidden_states)


def _private_attn(module, transposed_k: bool = False):
    """Older families compute attention in their own `_attn(q, k, v, ...)` rather than through
    transformers' attention interface; it gets the same capture (OpenAI GPT hands k over as (b, H, hd, s))."""
    def _attn(q, k, v, *args, **kwargs):
        out, _ = _capture(module, q, k.transpose(-1, -2) if transposed_k else k, v)
        out = out.transpose(1, 2)
        return [out] if transposed_k else (out, None)

    module._attn = _attn


_PRIVATE_ATTN = {"GPTNeoSelfAttention": False, "GPTNeoXJapaneseAttention": False, "Attention": True}


_QKV = (("query", "key", "value"), ("query_proj", "key_proj", "value_proj"), ("q", "k", "v"))


def _eager_self_attention(m) -> None:
    """Encoders whose self-attention never reaches the attention interface (DeBERTa-v2, MPNet,
    RemBERT, LUKE, BigBird, ...): q, k, v recorded from the module's own Linear layers, split into
    heads as every such forward does, and each token attends to itself (MPNet applies `o` inside)."""
    names = next((n for n in _QKV if all(isinstance(getattr(m, x, None), torch.nn.Linear) for x in n)), None)
    if names is None or hasattr(m, "LayerNorm") or hasattr(m, "q_proj"):
        return
    heads = getattr(m, "num_attention_heads", None) or getattr(m, "n_heads", None)
    if heads is None:
        return

    def forward(*args, **kw):
        x = args[0] if args else kw.get("hidden_states", kw.get("query"))
        q, k, v = (getattr(m, n)(x).unflatten(-1, (heads, -1)).transpose(1, 2) for n in names)
        _capture(m, q, k, v)
        out = v.transpose(1, 2).flatten(2)
        out = torch.zeros_like(out) if _STATE["attention"] == "off" else out
        if isinstance(getattr(m, "o", None), torch.nn.Linear):
            out = m.o(out)
        return out, None

    m.forward = forward


def _altup_off(m) -> None:
    """Gemma 3n's AltUp mixes its streams with coefficients a router computes from each token; with the
    router's output 0, `predict` copies the streams and `correct` sets the active one to the layer's
    output, so the attention and FFN read and write that stream alone, as the terms do."""
    n = m.modality_router.out_features
    m.compute_router_modalities = lambda x: torch.zeros(*x.shape[:-1], n, dtype=x.dtype)


def _gpt_oss_gate(module):
    def apply(gate_up):
        up = gate_up[..., 1::2]
        mode = _STATE["ffn"]
        return torch.zeros_like(up) if mode == "off" else up if mode == "ones" else gate_up[..., ::2] * up

    module._apply_gate = apply


def _all_experts(module, args, kwargs):
    """Experts modules (transformers 5) take (hidden, top_k_index, top_k_weights): route to all, weight 1.
    Those that take the hidden states alone (Llama 4) run every expert already."""
    if len(args) + len(kwargs) < 3:
        return None
    hidden = args[0] if args else kwargs["hidden_states"]
    n = getattr(module, "num_experts", None) or module.gate_up_proj.shape[0]
    tokens = hidden.reshape(-1, hidden.shape[-1]).shape[0]  # DBRX hands over (1, T, d)
    idx = torch.arange(n).expand(tokens, n)
    weights = torch.ones(tokens, n, dtype=hidden.dtype)
    rest = list(args[1:])
    if len(rest) >= 2:
        rest[0], rest[1] = idx, weights
        return (args[0], *rest), kwargs
    keys = [k for k in kwargs if k != "hidden_states"]
    kwargs = dict(kwargs)
    kwargs[keys[0]], kwargs[keys[1]] = idx, weights
    return args, kwargs


@contextlib.contextmanager
def _functional_patches():
    """Output gates (gated attention, shared-expert gates) multiply by sigmoid(...): set them to 1.
    FFNs that call `F.silu` themselves (LFM2) get what activation modules get."""
    saved = torch.sigmoid, torch.nn.functional.sigmoid, torch.Tensor.sigmoid, torch.nn.functional.silu
    ones = lambda x, *a, **k: torch.ones_like(x)  # noqa: E731
    torch.sigmoid = torch.nn.functional.sigmoid = ones
    torch.Tensor.sigmoid = ones
    torch.nn.functional.silu = lambda x, *a, **k: _activate(x)
    try:
        yield
    finally:
        torch.sigmoid, torch.nn.functional.sigmoid, torch.Tensor.sigmoid, torch.nn.functional.silu = saved


def prepare(model) -> None:
    """Zero biases, linearise norms and activations, capture attention, route to every expert."""
    _register()
    model.set_attn_implementation("rfp_capture")
    if hasattr(model.base_model, "set_attention_type"):  # BigBird: block-sparse attention picks pairs, same q, k
        model.base_model.set_attention_type("original_full")
    if hasattr(model, "set_default_language"):  # X-MOD: a language's adapter must be chosen to run at all
        model.set_default_language(model.config.languages[0])
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith(("bias", "_bias")):
                p.zero_()
    for m in model.modules():
        if _is_norm(m):
            _linear_norm(m)
        elif _is_activation(m):
            _activation(m)
        if callable(getattr(m, "act_fn", None)) and not isinstance(m.act_fn, torch.nn.Module):
            m.act_fn = _activate  # a function bound at init (LFM2-MoE's experts: F.silu)
        if type(m).__name__ == "GptOssExperts":  # its own clamped, interleaved gate (others use act_fn)
            _gpt_oss_gate(m)
        _eager_self_attention(m)
        if type(m).__name__.endswith("Mixer"):
            _mixer_off(m)
        if type(m).__name__.endswith("LaurelBlock"):  # Gemma 3n's low-rank branch beside the attention: not a term
            _mixer_off(m)
        if callable(getattr(m, "compute_router_modalities", None)):
            _altup_off(m)
        if type(m).__name__ in _PRIVATE_ATTN and hasattr(m, "_attn"):
            _private_attn(m, _PRIVATE_ATTN[type(m).__name__])
        if type(m).__name__.endswith("Experts") and not isinstance(m, torch.nn.ModuleList):
            m.register_forward_pre_hook(_all_experts, with_kwargs=True)


def decoder_layers(model, n_layers: int):
    """(text model, its layers): the ModuleList of n_layers blocks under the text model."""
    text = model.get_decoder() if hasattr(model, "get_decoder") else model
    if not any(isinstance(m, torch.nn.ModuleList) for m in text.modules()):  # a masked LM's head is its "decoder"
        text = model.base_model
    groups = getattr(getattr(text, "encoder", None), "albert_layer_groups", None)
    if groups is not None:  # ALBERT: layer i runs group int(i / (n / groups))'s weights
        return text, [groups[int(i / (n_layers / len(groups)))].albert_layers[0] for i in range(n_layers)]
    lists = [(name, m) for name, m in text.named_modules() if isinstance(m, torch.nn.ModuleList) and len(m) == n_layers
             and name.rsplit(".", 1)[-1] in ("layers", "layer", "h", "blocks", "block")]
    assert len(lists) == 1, [n for n, _ in lists]
    return text, lists[0][1]


def _run(text, layer, X: torch.Tensor, attention: str, ffn: str, earlier=()) -> torch.Tensor:
    """`layer`'s output for input X. The `earlier` layers get X as their input too: a layer may attend
    to keys and values an earlier layer computed from its own input (Gemma 4's KV sharing), and
    those must come from X as well; any other layer's output is discarded."""
    _STATE.update(attention=attention, ffn=ffn, qkv=[], norms=None)
    out: dict = {}

    def stream(h):
        # a layer that takes a stack of streams (Gemma 3n's AltUp: (streams, B, T, d)) gets X in each
        return (X[None, None].expand(h.shape[0], 1, *X.shape) if h.dim() == 4 else X[None]).to(h.dtype)

    def feed(module, args, kwargs):
        if args:
            return (stream(args[0]), *args[1:]), kwargs
        return args, dict(kwargs, hidden_states=stream(kwargs["hidden_states"]))

    def pre(module, args, kwargs):
        _STATE["norms"] = []
        return feed(module, args, kwargs)

    def post(module, args, output):
        out["y"] = output[0] if isinstance(output, (tuple, list)) else output
        raise _Stop

    hooks = [m.register_forward_pre_hook(feed, with_kwargs=True) for m in earlier if m is not layer]
    h1 = layer.register_forward_pre_hook(pre, with_kwargs=True)
    h2 = layer.register_forward_hook(post)
    T, e = X.shape[0], text.get_input_embeddings().weight.shape[1]
    try:
        with torch.no_grad(), _functional_patches():
            text(inputs_embeds=torch.zeros(1, T, e), position_ids=torch.zeros(1, T, dtype=torch.long), use_cache=False)
    except _Stop:
        pass
    finally:
        for h in (h1, h2, *hooks):
            h.remove()
    y = out["y"]
    if y.dim() == 4:  # a stack of streams (Gemma 3n): the active one is the one attention and FFN write
        y = y[getattr(getattr(layer, "config", None), "altup_active_idx", 0)]
    return (y[0] if y.dim() == 3 else y).double()


def _linear_ffn(text, layer, X: torch.Tensor, base: torch.Tensor) -> torch.Tensor:
    """The layer's output with attention off and the FFN made linear: identity activations make a
    plain FFN linear, activations of 1 a gated one (base, everything off, is linear in X, so the
    FFN's own addition must double with X)."""
    for mode in ("identity", "ones"):
        y1 = _run(text, layer, X, "off", mode)
        y2 = _run(text, layer, 2 * X, "off", mode)
        if float((y2 - 2 * y1).abs().max()) <= 1e-5 * float((y1 - base).abs().max()):
            return y1
    raise AssertionError("the FFN could not be made linear")


def reference_terms(model, n_layers: int, i: int, X: torch.Tensor) -> dict[str, torch.Tensor]:
    text, layers = decoder_layers(model, n_layers)
    X = X.float()
    Z = X.double()
    base = _run(text, layers[i], X, "off", "off")
    norms = list(_STATE["norms"])
    with_attn = _run(text, layers[i], X, "self", "off", earlier=layers[:i])  # shared K/V from X too
    _, q, k, _v = _STATE["qkv"][0]  # Diff Transformer attends twice with the same q and k
    ffn = _linear_ffn(text, layers[i], X, base)
    if not (ffn - base).abs().max() and i + 1 < len(layers):
        # an attention block without an FFN of its own (Nemotron-H): its FFN term is the FFN block
        # that follows it, as the adapter reads it
        after = _run(text, layers[i + 1], X, "off", "off")
        ffn = _linear_ffn(text, layers[i + 1], X, after) - after + base
    # pre-norm: the branches add to X, and the layer may scale the stream by a scalar c (Gemma 3n's
    # 1/sqrt(2) after attention; c = 1 elsewhere): then base = c X and, the FFN being linear in what it
    # reads, the output is c times a pre-norm layer's, so both additions are divided by c
    c = float((base * Z).sum() / (Z * Z).sum())
    if c > 0 and torch.allclose(base, c * Z, rtol=1e-5, atol=1e-6 * c * float(Z.abs().max())):
        d_attn, d_ffn = (with_attn - base) / c, (ffn - base) / c
    else:  # post-norm (BERT): out = g2 (g1 (X + attn) + ffn); the first two norms of width d are g1, g2
        g1, g2 = [g for g in norms if g.shape[0] == Z.shape[1]][:2]
        d_attn, d_ffn = with_attn / (g1 * g2) - Z, ffn / g2 - g1 * Z
    rep = q.shape[1] // k.shape[1]
    k = k.repeat_interleave(rep, dim=1)
    m_a = torch.einsum("htd,hsd->ts", q[0], k[0])
    return {"attn": m_a, "ov": d_attn @ Z.T, "ffn": d_ffn @ Z.T}

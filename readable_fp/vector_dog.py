"""A dog drawn procedurally from a 512-dim fingerprint latent, as SVG (and PNG via resvg).

No generator weights are needed. Every visual attribute is a smooth function of the latent:

* ``s = P @ z`` with ``P`` a fixed, seeded matrix of ``N_ATTR`` orthonormal rows (unit norm),
  so for ``z ~ N(0, I)`` each ``s_i ~ N(0, 1)`` and the ``s_i`` are independent;
* ``a_i = Phi(s_i)`` (the normal CDF), uniform on (0, 1);
* colours are interpolated in OKLCh (hue as an angle), shapes are blends of archetype control
  points with softmax weights (never a hard switch), marking sizes/opacities are continuous.

Every one of the 512 dimensions has a non-zero weight in every attribute row, so all of them
influence the drawing. Numbers are written with a fixed format (1 decimal for coordinates,
2 for opacities, 8-bit hex for colours), so the same latent gives the same bytes.
"""
from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from .errors import FingerprintError

LATENT_DIM = 512
SEED = 20261122
SIZE = 256

# Attribute names, one per projection row. The order is part of the format: do not reorder.
ATTRS = [
    # coat
    "coat_L", "coat_C", "coat_h", "mark_L", "mark_C", "mark_h",
    "blaze", "mask", "patch_l", "patch_r", "ear_mix", "bib", "muzzle_mix", "brows",
    "spot_0", "spot_1", "spot_2", "spot_3", "spot_4", "spot_5", "spot_6", "spot_7",
    # head shape
    "head_round", "head_long", "head_square", "head_broad", "head_w", "head_h",
    "fluff", "muzzle_len", "muzzle_w", "tilt",
    # ears
    "ear_prick", "ear_fold", "ear_flop", "ear_size", "ear_set", "ear_asym", "ear_inner",
    # face
    "eye_size", "eye_space", "eye_h", "eye_L", "eye_shape", "nose_size", "nose_col",
    "tongue", "smile",
    # body, collar, tag
    "neck_w", "collar_h", "collar_L", "collar_w", "tag_shape", "tag_metal", "tag_size",
    "tag_rot",
    # background
    "bg_h", "bg_L", "bg_C", "bg_h2", "bg_angle", "pat_op", "pat_scale", "pat_angle",
]
N_ATTR = len(ATTRS)
_IDX = {name: i for i, name in enumerate(ATTRS)}


@lru_cache(maxsize=1)
def projection() -> np.ndarray:
    """The fixed (N_ATTR, 512) projection: orthonormal rows, every entry non-zero."""
    rng = np.random.default_rng(SEED)
    g = rng.standard_normal((LATENT_DIM, N_ATTR))
    q, r = np.linalg.qr(g)
    q = q * np.sign(np.diag(r))[None, :]
    p = np.ascontiguousarray(q.T)
    p /= np.linalg.norm(p, axis=1, keepdims=True)
    p.setflags(write=False)
    return p


def _check_latent(latent) -> np.ndarray:
    try:
        z = np.asarray(latent, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise FingerprintError(f"latent must be a numeric array of shape ({LATENT_DIM},): {e}") from None
    if z.ndim == 2 and z.shape[0] == 1:
        z = z[0]
    if z.shape != (LATENT_DIM,):
        raise FingerprintError(f"latent must have shape ({LATENT_DIM},), got {tuple(z.shape)}")
    if not np.all(np.isfinite(z)):
        raise FingerprintError("latent contains NaN or infinite values")
    return z


def attributes(latent) -> dict[str, float]:
    """The attribute values in (0, 1), keyed by name, plus the raw projections as ``"s:" + name``."""
    z = _check_latent(latent)
    s = projection() @ z
    out: dict[str, float] = {}
    for name, v in zip(ATTRS, s):
        v = float(v)
        out[name] = 0.5 * (1.0 + math.erf(v / math.sqrt(2.0)))
        out["s:" + name] = v
    return out


def attribute_vector(latent) -> np.ndarray:
    """The attributes as an array of shape (N_ATTR,), in ``ATTRS`` order."""
    a = attributes(latent)
    return np.array([a[n] for n in ATTRS])


def describe(latent) -> str:
    """The dog in a few words (for alt text): coat, head, ears, collar and background, read from
    the same attributes the drawing uses."""
    A = attributes(latent)
    L = 0.3 + 0.62 * A["coat_L"]  # as render_svg colours the coat
    coat = "dark brown" if L < 0.5 else "brown" if L < 0.72 else "cream"
    head = ("round", "long", "square", "broad")[int(np.argmax([A["s:head_round"], A["s:head_long"],
                                                              A["s:head_square"], A["s:head_broad"]]))]
    ears = ("pricked", "folded", "floppy")[int(np.argmax([A["s:ear_prick"], A["s:ear_fold"], A["s:ear_flop"]]))]
    collar, bg = _hue(360 * A["collar_h"]), _hue(360 * A["bg_h"])
    return (f"a {coat} cartoon dog with a {head} head and {ears} ears, a {collar} collar, "
            f"on {'an' if bg[0] in 'aeiou' else 'a'} {bg} background")


def _hue(deg: float) -> str:
    """A colour word for an OKLCH hue angle (the space the dog is coloured in)."""
    names = ((30, "red"), (70, "orange"), (110, "yellow"), (165, "green"), (215, "teal"), (280, "blue"),
             (320, "purple"), (350, "pink"), (360, "red"))
    return next(n for top, n in names if deg % 360 < top)


# ----------------------------------------------------------------------------- helpers


def _lerp(a, b, t):
    return a + (b - a) * t


def _ramp(x, lo, hi):
    """0 below lo, 1 above hi, smoothstep in between (C1)."""
    t = min(1.0, max(0.0, (x - lo) / (hi - lo)))
    return t * t * (3.0 - 2.0 * t)


def _softmax(xs, temp):
    m = max(xs)
    e = [math.exp(temp * (x - m)) for x in xs]
    t = sum(e)
    return [v / t for v in e]


def _oklch_to_hex(L, C, h_deg):
    h = math.radians(h_deg)
    a, b = C * math.cos(h), C * math.sin(h)
    l_ = L + 0.3963377774 * a + 0.2158037573 * b
    m_ = L - 0.1055613458 * a - 0.0638541728 * b
    s_ = L - 0.0894841775 * a - 1.2914855480 * b
    l, m, s = l_ ** 3, m_ ** 3, s_ ** 3
    rgb = (
        4.0767416621 * l - 3.3077115913 * m + 0.2309699292 * s,
        -1.2684380046 * l + 2.6097574011 * m - 0.3413193965 * s,
        -0.0041960863 * l - 0.7034186147 * m + 1.7076147010 * s,
    )
    out = []
    for c in rgb:
        c = min(1.0, max(0.0, c))
        c = 12.92 * c if c <= 0.0031308 else 1.055 * c ** (1 / 2.4) - 0.055
        out.append(int(round(min(1.0, max(0.0, c)) * 255)))
    return "#%02x%02x%02x" % tuple(out)


class _Col:
    """An OKLCh colour; mixing goes through OKLab (so hue interpolation is continuous)."""

    __slots__ = ("L", "a", "b")

    def __init__(self, L, C, h_deg):
        h = math.radians(h_deg)
        self.L, self.a, self.b = L, C * math.cos(h), C * math.sin(h)

    def mix(self, other, t):
        c = _Col(0, 0, 0)
        c.L, c.a, c.b = _lerp(self.L, other.L, t), _lerp(self.a, other.a, t), _lerp(self.b, other.b, t)
        return c

    def shade(self, dL):
        c = _Col(0, 0, 0)
        c.L, c.a, c.b = min(0.99, max(0.0, self.L + dL)), self.a, self.b
        return c

    @property
    def hex(self):
        C = math.hypot(self.a, self.b)
        h = math.degrees(math.atan2(self.b, self.a))
        return _oklch_to_hex(self.L, C, h)


def _f(x: float) -> str:
    s = f"{x:.1f}"
    return "0.0" if s == "-0.0" else s


def _op(x: float) -> str:
    s = f"{min(1.0, max(0.0, x)):.2f}"
    return s


def _closed_path(pts, tension=1.0) -> str:
    """A smooth closed path through pts (Catmull-Rom as cubic Beziers)."""
    n = len(pts)
    parts = [f"M{_f(pts[0][0])} {_f(pts[0][1])}"]
    k = tension / 6.0
    for i in range(n):
        p0, p1, p2, p3 = pts[i - 1], pts[i], pts[(i + 1) % n], pts[(i + 2) % n]
        c1 = (p1[0] + (p2[0] - p0[0]) * k, p1[1] + (p2[1] - p0[1]) * k)
        c2 = (p2[0] - (p3[0] - p1[0]) * k, p2[1] - (p3[1] - p1[1]) * k)
        parts.append(
            f"C{_f(c1[0])} {_f(c1[1])} {_f(c2[0])} {_f(c2[1])} {_f(p2[0])} {_f(p2[1])}"
        )
    return "".join(parts) + "Z"


def _blend(archetypes, weights):
    n = len(archetypes[0])
    out = []
    for j in range(n):
        x = sum(w * arch[j][0] for w, arch in zip(weights, archetypes))
        y = sum(w * arch[j][1] for w, arch in zip(weights, archetypes))
        out.append((x, y))
    return out


_NH = 32  # head outline points
_THETAS = [2 * math.pi * k / _NH - math.pi / 2 for k in range(_NH)]  # start at the top, clockwise


def _head_archetypes():
    rnd, lng, sq, brd = [], [], [], []
    for t in _THETAS:
        c, s = math.cos(t), math.sin(t)
        rnd.append((1.0 * c, 0.97 * s - 0.03 * max(s, 0.0)))
        lng.append((0.8 * c * (1.0 - 0.25 * max(s, 0.0)), 1.14 * s))
        e = 2.0 / 3.6
        sq.append((1.02 * math.copysign(abs(c) ** e, c), 0.95 * math.copysign(abs(s) ** e, s)))
        brd.append((1.2 * c * (1.0 + 0.08 * max(s, 0.0)) * (1 - 0.1 * max(-s, 0.0)), 0.84 * s))
    return rnd, lng, sq, brd


_HEADS = _head_archetypes()

# Right ear archetypes, in head units (head half-width 1, centre origin, y down), clockwise.
# Index 0 is the inner base, the ear is attached around _EAR_ANCHOR.
_EAR_ANCHOR = (0.6, -0.8)
_EARS = (
    # pricked
    [(0.1, -0.85), (0.2, -1.3), (0.5, -1.85), (0.85, -1.45), (1.05, -0.85), (1.0, -0.45), (0.55, -0.55)],
    # folded (tip falls forward)
    [(0.2, -0.85), (0.4, -1.15), (0.8, -1.22), (1.02, -1.0), (0.82, -0.5), (0.62, -0.52), (0.45, -0.7)],
    # floppy (hangs down the side)
    [(0.3, -0.92), (0.72, -1.06), (1.08, -0.86), (1.28, -0.2), (1.16, 0.52), (0.84, 0.42), (0.72, -0.3)],
)

# Spot sites: (x, y, max radius) in head units; the first five are on the head, the rest on the body.
_SPOTS = [(-0.55, -0.45, 0.32), (0.5, -0.6, 0.28), (0.0, -0.8, 0.25), (-0.7, 0.25, 0.25),
          (0.72, 0.15, 0.3), (-0.85, 1.8, 0.26), (0.8, 1.9, 0.3), (0.1, 2.15, 0.22)]


# ----------------------------------------------------------------------------- drawing


def render_svg(latent) -> str:
    """The dog portrait of ``latent`` (shape (512,)) as a compact, deterministic SVG string."""
    A = attributes(latent)

    def a(name):
        return A[name]

    def s(name):
        return A["s:" + name]

    # --- colours
    coat = _Col(0.3 + 0.62 * a("coat_L"), 0.01 + 0.1 * a("coat_C"), 40 + 45 * a("coat_h"))
    mark = _Col(0.18 + 0.75 * a("mark_L"), 0.01 + 0.1 * a("mark_C"), 35 + 50 * a("mark_h"))
    cream = _Col(0.96, 0.02, 85)
    dark = _Col(0.22, 0.02, 40)
    ear_col = coat.mix(mark, 0.15 + 0.8 * a("ear_mix"))
    muzzle_col = coat.mix(cream, 0.12 + 0.8 * a("muzzle_mix") ** 1.5)
    outline = coat.mix(dark, 0.75).hex
    iris = _Col(0.32 + 0.4 * a("eye_L"), 0.12, 30 + 230 * a("eye_h") ** 2)
    nose_col = _Col(0.2, 0.01, 30).mix(_Col(0.62, 0.09, 15), a("nose_col") ** 2.5)
    inner_ear = ear_col.mix(_Col(0.78, 0.08, 10), 0.3 + 0.6 * a("ear_inner"))
    collar = _Col(0.45 + 0.25 * a("collar_L"), 0.17, 360 * a("collar_h"))
    tm = a("tag_metal")
    tag = _Col(0.78 - 0.1 * tm, 0.02 + 0.12 * (1 - abs(2 * tm - 1)) + 0.03 * tm, 95 - 40 * tm)
    bg1 = _Col(0.8 + 0.15 * a("bg_L"), 0.03 + 0.09 * a("bg_C"), 360 * a("bg_h"))
    bg2 = _Col(0.7 + 0.15 * a("bg_L"), 0.05 + 0.09 * a("bg_C"), 360 * a("bg_h") + 140 * (a("bg_h2") - 0.5))

    # --- geometry
    cx, cy = 128.0, 104.0
    hw = 60 + 18 * a("head_w")
    hh = 56 + 14 * a("head_h")
    wts = _softmax([s("head_round"), s("head_long"), s("head_square"), s("head_broad")], 1.6)
    unit_head = _blend(_HEADS, wts)
    fl = 0.07 * a("fluff") ** 1.5
    tilt = math.radians(10 * (a("tilt") - 0.5))
    ct, st = math.cos(tilt), math.sin(tilt)

    def P(x, y):
        """Head units -> pixels (with the head tilt)."""
        x, y = x * hw, y * hh
        return (cx + ct * x - st * y, cy + st * x + ct * y)

    head_pts = []
    for k, (x, y) in enumerate(unit_head):
        t = _THETAS[k]
        bump = 1.0 + fl * (1.0 if k % 2 else -0.6) * max(0.0, math.cos(t) ** 2) * (0.4 + max(math.sin(t), 0))
        head_pts.append(P(x * bump, y * bump))
    head_d = _closed_path(head_pts)
    chin_y = max(p[1] for p in head_pts)

    # ears: archetype blend, anchored on the head outline at about 55 degrees above the side
    ew = _softmax([s("ear_prick"), s("ear_fold"), s("ear_flop")], 1.8)
    ear_unit = _blend(_EARS, ew)
    k_anchor = int(round(_NH * (35 / 360)))  # outline index near the upper right
    ax_u, ay_u = unit_head[k_anchor]
    size = 0.75 + 0.5 * a("ear_size")
    front_op = min(1.0, 1.2 * ew[2] + 0.7 * ew[1])

    def ear_points(side, size_k, rot_deg):
        r = math.radians(rot_deg)
        cr, sr = math.cos(r), math.sin(r)
        pts = []
        for x, y in ear_unit:
            dx, dy = (x - _EAR_ANCHOR[0]) * size_k, (y - _EAR_ANCHOR[1]) * size_k
            dx, dy = cr * dx - sr * dy, sr * dx + cr * dy
            ux, uy = ax_u + dx, ay_u + dy
            pts.append(P(side * ux, uy))
        return pts

    asym = (a("ear_asym") - 0.5)
    rot = 30 * (a("ear_set") - 0.5)
    ears = {
        1: ear_points(1, size * (1 + 0.08 * asym), rot + 8 * asym),
        -1: ear_points(-1, size * (1 - 0.08 * asym), -rot + 8 * asym),
    }

    def shrink(pts, k):
        mx = sum(p[0] for p in pts) / len(pts)
        my = sum(p[1] for p in pts) / len(pts)
        return [(mx + (x - mx) * k, my + (y - my) * k) for x, y in pts]

    # muzzle
    ml = a("muzzle_len")
    mw = 0.4 + 0.2 * a("muzzle_w")
    m_top, m_bot = 0.08, 0.78 + 0.32 * ml
    mcy = (m_top + m_bot) / 2
    mry = (m_bot - m_top) / 2
    muzzle_pts = []
    for k in range(16):
        t = 2 * math.pi * k / 16
        c, sn = math.cos(t), math.sin(t)
        wx = mw * (1.0 + 0.12 * sn)  # a little wider at the jowls
        muzzle_pts.append(P(wx * c, mcy + mry * sn))
    muzzle_d = _closed_path(muzzle_pts)
    muzzle_bottom = max(p[1] for p in muzzle_pts)
    chin_y = max(chin_y, muzzle_bottom)

    # eyes
    er = 6.0 + 4.0 * a("eye_size")
    ex = 0.3 + 0.16 * a("eye_space")
    ey = -0.12
    eye_aspect = 0.8 + 0.25 * a("eye_shape")

    # nose, mouth
    nw = (0.16 + 0.1 * a("nose_size")) * hw
    nose_c = P(0, m_top + 0.1 + 0.12 * ml)
    nh = nw * 0.7
    mouth_y = nose_c[1] + nh * 0.7 + 6 + 8 * ml
    smile = 3 + 6 * a("smile")
    tongue = _ramp(a("tongue"), 0.35, 1.0)

    # body and collar
    neck = 0.55 + 0.25 * a("neck_w")
    collar_y = chin_y - 6
    cw = 7 + 8 * a("collar_w")

    out: list[str] = []
    w = out.append
    w(f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {SIZE} {SIZE}" width="{SIZE}" height="{SIZE}">')
    ang = math.radians(360 * a("bg_angle"))
    gx, gy = 0.5 * math.cos(ang), 0.5 * math.sin(ang)
    w("<defs>")
    w(f'<linearGradient id="bg" x1="{0.5 - gx:.3f}" y1="{0.5 - gy:.3f}" x2="{0.5 + gx:.3f}" y2="{0.5 + gy:.3f}">'
      f'<stop offset="0" stop-color="{bg1.hex}"/><stop offset="1" stop-color="{bg2.hex}"/></linearGradient>')
    w(f'<clipPath id="hc"><path d="{head_d}"/></clipPath>')
    w("</defs>")
    w(f'<rect width="{SIZE}" height="{SIZE}" fill="url(#bg)"/>')

    # background pattern: a fixed rotated lattice of dots, continuous size and opacity
    pat_op = 0.35 * _ramp(a("pat_op"), 0.15, 1.0)
    if pat_op > 0.004:
        step = 26 + 14 * a("pat_scale")
        rad = step * (0.12 + 0.14 * a("pat_scale"))
        pa = math.radians(90 * a("pat_angle"))
        cpa, spa = math.cos(pa), math.sin(pa)
        dots = []
        for i in range(-6, 7):
            for j in range(-6, 7):
                u, v = i * step + (j % 2) * step / 2, j * step * 0.87
                x, y = 128 + cpa * u - spa * v, 128 + spa * u + cpa * v
                if -rad < x < SIZE + rad and -rad < y < SIZE + rad:
                    dots.append(f"M{_f(x - rad)} {_f(y)}a{_f(rad)} {_f(rad)} 0 1 0 {_f(2 * rad)} 0a{_f(rad)} {_f(rad)} 0 1 0 {_f(-2 * rad)} 0")
        w(f'<path d="{"".join(dots)}" fill="#ffffff" fill-opacity="{_op(pat_op)}"/>')

    # body (shoulders)
    nx = neck * hw
    bx = 96.0
    top = cy + 0.7 * hh
    w(f'<path d="M{_f(cx - nx)} {_f(top)}C{_f(cx - nx - 6)} {_f(top + 40)} {_f(cx - bx)} {_f(top + 60)} {_f(cx - bx - 12)} 260'
      f'L{_f(cx + bx + 12)} 260C{_f(cx + bx)} {_f(top + 60)} {_f(cx + nx + 6)} {_f(top + 40)} {_f(cx + nx)} {_f(top)}Z" '
      f'fill="{coat.shade(-0.03).hex}" stroke="{outline}" stroke-width="2.5"/>')
    bib = a("bib")
    if bib > 0.02:
        bw = 18 + 40 * bib
        w(f'<path d="M128 {_f(collar_y)}C{_f(128 + bw)} {_f(collar_y + 10)} {_f(128 + bw * 0.9)} {_f(collar_y + 30 + bw)} 128 {_f(collar_y + 40 + bw)}'
          f'C{_f(128 - bw * 0.9)} {_f(collar_y + 30 + bw)} {_f(128 - bw)} {_f(collar_y + 10)} 128 {_f(collar_y)}Z" fill="{cream.hex}" fill-opacity="{_op(_ramp(bib, 0.1, 0.8))}"/>')
    for i in range(5, 8):
        x, y, rmax = _SPOTS[i]
        r = rmax * hw * _ramp(a(f"spot_{i}"), 0.45, 1.0)
        if r > 0.3:
            w(f'<circle cx="{_f(cx + x * hw)}" cy="{_f(cy + y * hh)}" r="{_f(r)}" fill="{mark.hex}"/>')

    # collar: a band sagging under the chin
    cl, cr_ = cx - nx - 4, cx + nx + 4
    sag = 10
    w(f'<path d="M{_f(cl)} {_f(collar_y - cw / 2)}Q128 {_f(collar_y + sag * 2 - cw / 2)} {_f(cr_)} {_f(collar_y - cw / 2)}'
      f'L{_f(cr_)} {_f(collar_y + cw / 2)}Q128 {_f(collar_y + sag * 2 + cw / 2)} {_f(cl)} {_f(collar_y + cw / 2)}Z" '
      f'fill="{collar.hex}" stroke="{collar.shade(-0.2).hex}" stroke-width="1.5"/>')

    # ears behind the head
    for side in (-1, 1):
        pts = ears[side]
        w(f'<path d="{_closed_path(pts)}" fill="{ear_col.hex}" stroke="{outline}" stroke-width="2.5"/>')
        inner_op = ew[0] + 0.4 * ew[1]
        if inner_op > 0.02:
            w(f'<path d="{_closed_path(shrink(pts, 0.55))}" fill="{inner_ear.hex}" fill-opacity="{_op(inner_op)}"/>')

    # head
    w(f'<path d="{head_d}" fill="{coat.hex}" stroke="{outline}" stroke-width="2.5"/>')

    # markings, clipped to the head
    marks = []
    mask = _ramp(a("mask"), 0.3, 1.0)
    if mask > 0.004:
        mx_ = (0.9 + 0.3 * a("mask")) * hw
        p = P(0, ey - 0.05)
        marks.append(f'<ellipse cx="{_f(p[0])}" cy="{_f(p[1])}" rx="{_f(mx_)}" ry="{_f(0.32 * hh)}" fill="{mark.hex}" fill-opacity="{_op(0.9 * mask)}"/>')
    for side, name in ((-1, "patch_l"), (1, "patch_r")):
        pv = _ramp(a(name), 0.4, 1.0)
        if pv > 0.004:
            p = P(side * (ex + 0.05), ey - 0.05)
            r = (0.22 + 0.2 * pv) * hw
            marks.append(f'<circle cx="{_f(p[0])}" cy="{_f(p[1])}" r="{_f(r)}" fill="{mark.hex}" fill-opacity="{_op(min(1, 1.5 * pv))}"/>')
    for i in range(5):
        x, y, rmax = _SPOTS[i]
        r = rmax * hw * _ramp(a(f"spot_{i}"), 0.55, 1.0)
        if r > 0.3:
            p = P(x, y)
            marks.append(f'<circle cx="{_f(p[0])}" cy="{_f(p[1])}" r="{_f(r)}" fill="{mark.hex}"/>')
    blaze = _ramp(a("blaze"), 0.35, 1.0)
    if blaze > 0.004:
        bw = 0.05 + 0.12 * a("blaze")
        pts = [P(-bw * 0.6, -1.3), P(bw * 0.6, -1.3), P(bw, ey), P(mw * 0.9, 0.3), P(-mw * 0.9, 0.3), P(-bw, ey)]
        d = "M" + "L".join(f"{_f(x)} {_f(y)}" for x, y in pts) + "Z"
        marks.append(f'<path d="{d}" fill="{cream.hex}" fill-opacity="{_op(blaze)}" stroke-linejoin="round"/>')
    if marks:
        w('<g clip-path="url(#hc)">' + "".join(marks) + "</g>")

    # floppy/folded ears in front of the head (opacity blends continuously with the ear type)
    if front_op > 0.004:
        w(f'<g opacity="{_op(front_op)}">')
        for side in (-1, 1):
            w(f'<path d="{_closed_path(ears[side])}" fill="{ear_col.hex}" stroke="{outline}" stroke-width="2.5"/>')
        w("</g>")

    # brows (tan points)
    brows = _ramp(a("brows"), 0.4, 1.0)
    if brows > 0.004:
        for side in (-1, 1):
            p = P(side * (ex - 0.02), ey - 0.3)
            w(f'<ellipse cx="{_f(p[0])}" cy="{_f(p[1])}" rx="{_f(er * 0.9)}" ry="{_f(er * 0.55)}" fill="{_Col(0.68, 0.11, 65).hex}" fill-opacity="{_op(brows)}"/>')

    # muzzle
    w(f'<path d="{muzzle_d}" fill="{muzzle_col.hex}" stroke="{outline}" stroke-width="1.5" stroke-opacity="0.5"/>')

    # eyes
    for side in (-1, 1):
        x, y = P(side * ex, ey)
        ry = er * eye_aspect
        w(f'<ellipse cx="{_f(x)}" cy="{_f(y)}" rx="{_f(er + 1.8)}" ry="{_f(ry + 1.8)}" fill="#1d1410"/>')
        w(f'<ellipse cx="{_f(x)}" cy="{_f(y)}" rx="{_f(er)}" ry="{_f(ry)}" fill="{iris.hex}"/>')
        w(f'<circle cx="{_f(x)}" cy="{_f(y + 0.5)}" r="{_f(er * 0.55)}" fill="#120c0a"/>')
        w(f'<circle cx="{_f(x + er * 0.3)}" cy="{_f(y - ry * 0.35)}" r="{_f(er * 0.28)}" fill="#ffffff"/>')

    # tongue, mouth, nose
    mx0 = nose_c[0]
    if tongue > 0.004:
        tl = 4 + 14 * tongue
        tw = 6 + 4 * tongue
        w(f'<path d="M{_f(mx0 - tw)} {_f(mouth_y)}C{_f(mx0 - tw)} {_f(mouth_y + tl)} {_f(mx0 + tw)} {_f(mouth_y + tl)} {_f(mx0 + tw)} {_f(mouth_y)}Z" '
          f'fill="#e8737a" stroke="#9c3a44" stroke-width="1.2" fill-opacity="{_op(min(1, 3 * tongue))}" stroke-opacity="{_op(min(1, 3 * tongue))}"/>')
    nb = nose_c[1] + nh * 0.55
    mw_px = 9 + 0.12 * hw + 4 * a("smile")
    w(f'<path d="M{_f(mx0)} {_f(nb)}L{_f(mx0)} {_f(mouth_y)}M{_f(mx0 - mw_px)} {_f(mouth_y - smile)}'
      f'Q{_f(mx0 - mw_px / 2)} {_f(mouth_y + smile)} {_f(mx0)} {_f(mouth_y)}Q{_f(mx0 + mw_px / 2)} {_f(mouth_y + smile)} {_f(mx0 + mw_px)} {_f(mouth_y - smile)}" '
      f'fill="none" stroke="#2a1d18" stroke-width="2.2" stroke-linecap="round"/>')
    x0, y0 = nose_c
    w(f'<path d="M{_f(x0 - nw)} {_f(y0 - nh * 0.45)}C{_f(x0 - nw)} {_f(y0 - nh)} {_f(x0 + nw)} {_f(y0 - nh)} {_f(x0 + nw)} {_f(y0 - nh * 0.45)}'
      f'C{_f(x0 + nw)} {_f(y0 + nh * 0.2)} {_f(x0 + nw * 0.3)} {_f(y0 + nh * 0.55)} {_f(x0)} {_f(y0 + nh * 0.6)}'
      f'C{_f(x0 - nw * 0.3)} {_f(y0 + nh * 0.55)} {_f(x0 - nw)} {_f(y0 + nh * 0.2)} {_f(x0 - nw)} {_f(y0 - nh * 0.45)}Z" fill="{nose_col.hex}"/>')
    w(f'<ellipse cx="{_f(x0 - nw * 0.3)}" cy="{_f(y0 - nh * 0.5)}" rx="{_f(nw * 0.3)}" ry="{_f(nh * 0.15)}" fill="#ffffff" fill-opacity="0.35"/>')

    # tag: a superellipse (diamond .. circle .. rounded square) hanging from the collar
    tr = 9 + 6 * a("tag_size")
    ty = collar_y + sag + cw / 2 + 4 + tr
    ex_t = 1.4 + 3.0 * a("tag_shape")
    trot = math.radians(45 * (a("tag_rot") - 0.5))
    tp = []
    for k in range(16):
        t = 2 * math.pi * k / 16
        c, sn = math.cos(t), math.sin(t)
        x = tr * math.copysign(abs(c) ** (2 / ex_t), c)
        y = tr * math.copysign(abs(sn) ** (2 / ex_t), sn)
        tp.append((128 + math.cos(trot) * x - math.sin(trot) * y, ty + math.sin(trot) * x + math.cos(trot) * y))
    w(f'<circle cx="128" cy="{_f(ty - tr - 2)}" r="3.5" fill="none" stroke="{tag.shade(-0.25).hex}" stroke-width="2"/>')
    w(f'<path d="{_closed_path(tp)}" fill="{tag.hex}" stroke="{tag.shade(-0.25).hex}" stroke-width="1.5"/>')
    w(f'<circle cx="128" cy="{_f(ty)}" r="{_f(tr * 0.45)}" fill="{tag.shade(0.1).hex}"/>')
    w("</svg>")
    return "".join(out)


def render_png(latent, path=None, size: int = SIZE) -> bytes:
    """The dog as PNG bytes (``size`` x ``size``), rasterised with resvg; also written to ``path``."""
    svg = render_svg(latent)
    try:
        import resvg_py
    except ImportError as e:  # pragma: no cover - resvg-py is a declared dependency
        raise FingerprintError("PNG rendering needs resvg-py: pip install resvg-py") from e
    if not isinstance(size, int) or size < 8 or size > 4096:
        raise FingerprintError(f"size must be an integer in [8, 4096], got {size!r}")
    png = bytes(resvg_py.svg_to_bytes(svg_string=svg, width=size, height=size, skip_system_fonts=True))
    if path is not None:
        with open(path, "wb") as fh:
            fh.write(png)
    return png

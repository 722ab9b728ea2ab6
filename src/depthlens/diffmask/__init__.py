"""DiffMask (De Cao et al. 2020): learned masks that show what each layer knows and where
information is stored.

    from depthlens.diffmask import fit
    probe = fit(adapter, data.load("sst2:train"), gate="input", out="probes/tiny-input")
    depthlens.explain(adapter, "a fine film", "diffmask", probe="probes/tiny-input")

Modules: ``gates`` (Hard Concrete, vote product), ``probes`` (bilinear probes,
baselines, gated runs, save/load), ``training`` (fit, checkpoints, CLI hook),
``search`` (non-amortised gates and exact erasure search), ``toy`` (the paper's
"more n than m" model).
"""
from .probes import DiffMaskProbe, load_probe
from .training import add_fit_diffmask_parser, fit, fit_command

__all__ = ["DiffMaskProbe", "add_fit_diffmask_parser", "fit", "fit_command", "load_probe"]

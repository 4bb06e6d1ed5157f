"""Published EMG onset detectors, run as their documentation shows, on one 1-D signal.

Each peer is name -> function(x: float array, fs) -> onset sample indices. None of them
classifies, so every onset they report counts as a claimed twitch. BioSPPy's Bonato and
Lidierth detectors have no defaults; the values used (below) follow their papers, set for
short events: Bonato h = 7.74 (the paper's detection threshold), 1-of-5 samples, active state
>= 5 ms; Lidierth: 3 SD above rest, 10-sample smoothing, active >= 5 ms. Both get the first
second of each signal as the rest reference. "short" variants of NeuroKit2 use a minimum
duration of 3 ms (the shortest fasciculation) instead of the default 50 ms.
"""

from __future__ import annotations

import warnings

import numpy as np

REST_S = 1.0


def _nk(method, duration_min):
    def run(x, fs):
        import neurokit2 as nk

        cleaned = nk.emg_clean(x, sampling_rate=fs)
        kw = {} if duration_min is None else {"duration_min": duration_min}
        if method == "threshold":
            amp = nk.emg_amplitude(cleaned)
            _, info = nk.emg_activation(emg_amplitude=amp, sampling_rate=fs, method=method, **kw)
        else:
            _, info = nk.emg_activation(emg_cleaned=cleaned, sampling_rate=fs, method=method, **kw)
        return np.asarray(info["EMG_Onsets"], dtype=np.int64)
    return run


def _biosppy_filtered(x, fs):
    from biosppy.signals import emg

    out = emg.emg(signal=x, sampling_rate=fs, show=False)
    return out


def _find_onsets(x, fs):
    return np.asarray(_biosppy_filtered(x, fs)["onsets"], dtype=np.int64)


def _bonato(x, fs):
    from biosppy.signals import emg

    f = np.asarray(_biosppy_filtered(x, fs)["filtered"])
    out = emg.bonato_onset_detector(signal=f, rest=[0, int(REST_S * fs)], sampling_rate=fs,
                                    threshold=7.74, active_state_duration=int(0.005 * fs),
                                    samples_above_fail=1, fail_size=5)
    return np.asarray(out["onsets"], dtype=np.int64)


def _lidierth(x, fs):
    from biosppy.signals import emg

    f = np.asarray(_biosppy_filtered(x, fs)["filtered"])
    out = emg.lidierth_onset_detector(signal=f, rest=[0, int(REST_S * fs)], sampling_rate=fs,
                                      size=10, threshold=3, active_state_duration=int(0.005 * fs),
                                      fail_size=5)
    return np.asarray(out["onsets"], dtype=np.int64)


PEERS = {
    "neurokit2 threshold (default)": _nk("threshold", None),
    "neurokit2 threshold (min 3 ms)": _nk("threshold", 0.003),
    "neurokit2 biosppy (default)": _nk("biosppy", None),
    "neurokit2 biosppy (min 3 ms)": _nk("biosppy", 0.003),
    "biosppy find_onsets": _find_onsets,
    "biosppy bonato": _bonato,
    "biosppy lidierth": _lidierth,
}


def run_peer(fn, x, fs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(np.asarray(x, dtype=float), fs)

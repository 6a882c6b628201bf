"""The audio core, without I/O: sample conversions and levels (`dsp`), the streaming resampler
(`resampler`, with its filter in `filter_design` and one class per computation layout in
`resampler_layouts`) and the playback jitter buffer (`jitter`). The devices are in
`edgevoice.adapters`.
"""

// Package audio is the box's sound arithmetic: a 16-bit PCM type, WAV and
// MP3 decoding behind size and duration limits, WAV encoding, mono
// downmix, resampling, gain and volume, a pre-announcement chime and
// G.711 (μ-law and A-law) for RTP paging speakers.
//
// It knows nothing of speakers, schedules, the cache or the township: it
// turns bytes into samples and samples into other samples, and every bad
// input comes back as an error wrapping one of the Err* sentinels, never a
// panic. It keeps no state between calls.
package audio

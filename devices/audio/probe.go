package audio

import (
	"io"
	"time"
)

// Info describes an encoded clip without its samples.
type Info struct {
	Format   Format
	Rate     int   // of the decoded audio, Hz
	Channels int   // of the decoded audio: an MP3 always decodes to 2
	Frames   int64 // samples per channel
}

// Duration is how long the clip plays, as PCM.Duration would say of its
// decoded samples.
func (i Info) Duration() time.Duration {
	if i.Rate <= 0 {
		return 0
	}
	return time.Duration(i.Frames) * time.Second / time.Duration(i.Rate)
}

// Probe checks the clip in r, size bytes long, as Decode would and
// describes what Decode would return, keeping none of the samples: it
// accepts what Decode accepts and refuses what Decode refuses, with the
// same errors. A WAV's samples are not read at all (every byte is a valid
// sample); an MP3 is decoded frame by frame and thrown away. Memory stays
// within a few frames whatever the size, so a server can check an upload
// from the file it spooled to.
func Probe(r io.ReaderAt, size int64, lim Limits) (Info, error) {
	lim = lim.withDefaults()
	var head [12]byte
	n, _ := r.ReadAt(head[:], 0) // a short read is judged by what it got
	switch Sniff(head[:n]) {
	case FormatWAV:
		l, err := wavLayout(r, size, lim)
		if err != nil {
			return Info{}, err
		}
		return Info{Format: FormatWAV, Rate: l.format.rate, Channels: l.format.channels, Frames: l.frames}, nil
	case FormatMP3:
		rate, n, err := streamMP3(r, size, lim, io.Discard)
		if err != nil {
			return Info{}, err
		}
		return Info{Format: FormatMP3, Rate: rate, Channels: 2, Frames: n / mp3FrameBytes}, nil
	}
	return Info{}, ErrUnknownFormat
}

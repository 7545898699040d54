package speakersim

import "time"

// nowTicks is the arrival clock for jitter, in RTP units of 1/8000 s.
func nowTicks() int64 { return time.Now().UnixNano() / int64(time.Second/8000) }

// Package speaker is the one interface every loudspeaker driver meets:
// play a clip at real-time pace, halt, say whether the speaker can be
// reached. Drivers live in subpackages (rtpspeaker, soundcard,
// httpspeaker); speakersim is a simulated IP speaker to drive; the
// speakertest package is the conformance suite every driver's tests run.
// Status, Level, Halter and Turn are the pieces drivers share: health
// learnt from sends, the volume, Halt's reach to the play in progress,
// and one play at a time.
//
// A driver knows nothing of schedules, zones, priorities, MQTT or the
// township: the broadcast arbiter above decides what plays where and
// when, and only talks to drivers through this package.
package speaker

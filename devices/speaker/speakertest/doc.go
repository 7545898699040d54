// Package speakertest is the conformance suite of speaker.Speaker: every
// driver's tests call Run with a way to make the driver and, where the
// test can observe the device (a simulated IP speaker, a loopback sound
// device), a way to hear what reached it. Only tests import it.
package speakertest

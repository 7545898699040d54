package broker

import "github.com/mochi-mqtt/server/v2/packets"

// Kick ends the connection of the client whose session id is clientID (a
// box's is its box id) and reports whether one was connected. The
// Authenticator decides each connect afresh, so a box whose credentials
// were changed or taken away cannot come back with the old ones; Kick is
// for the session it already has, which would otherwise go on until it
// ends by itself. Its persistent session, if any, is kept until
// SessionExpiry, as after any disconnect: whoever next signs in as the
// box takes it over.
func (b *Broker) Kick(clientID string) bool {
	srv := b.srv.Load()
	if srv == nil {
		return false
	}
	cl, ok := srv.Clients.Get(clientID)
	if !ok || cl.Closed() {
		return false
	}
	_ = srv.DisconnectClient(cl, packets.ErrNotAuthorized) // returns the code it sent
	b.log.Info("client disconnected by the township", "client_id", clientID)
	return true
}

package console

// broadcastMessages are the words of the broadcast pages.
func broadcastMessages() map[string]message {
	return map[string]message{}
}

func (c *Console) broadcastRoutes() {}

package console

// eventsMessages are the words of the event log page.
func eventsMessages() map[string]message {
	return map[string]message{}
}

func (c *Console) eventRoutes() {}

package console

// camerasMessages are the words of the cameras pages.
func camerasMessages() map[string]message {
	return map[string]message{}
}

func (c *Console) cameraRoutes() {}

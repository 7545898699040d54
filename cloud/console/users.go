package console

// usersMessages are the words of the users pages.
func usersMessages() map[string]message {
	return map[string]message{}
}

func (c *Console) userRoutes() {}

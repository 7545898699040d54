package console

// pagingMessages are the words of the paging pages.
func pagingMessages() map[string]message {
	return map[string]message{}
}

func (c *Console) pagingRoutes() {}

"""The rendered issue: the model every stage after composing works with."""

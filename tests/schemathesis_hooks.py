"""Strategies schemathesis needs for the GraphQL schema's custom scalars."""

import schemathesis
from hypothesis import strategies as st
from schemathesis.graphql import nodes

# `JSON` takes any GraphQL value; a string is one (and is a policy document the server
# must refuse with a coded error, never a server error).
schemathesis.graphql.scalar("JSON", st.text(max_size=40).map(nodes.String))

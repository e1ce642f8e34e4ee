"""Small local HTTP servers that speak the OpenAI and Pinecone wire protocols.

Tests drive the real ``openai`` and ``pinecone`` SDKs against them, so what is
checked is what the SDKs actually send and how our code reacts to real responses,
including 429s with ``Retry-After``, 5xx, slow replies and malformed model output.
"""

from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.pinecone_server import FakePinecone

__all__ = ["FakeOpenAI", "FakePinecone"]

"""Client libraries (openai, LangChain, LlamaIndex) against a live Spyglass and a fake OpenAI provider."""

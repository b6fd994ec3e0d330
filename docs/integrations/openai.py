# The OpenAI SDK through the Langfuse SDK's drop-in: every call a generation (model, messages, usage, cost):
#   LANGFUSE_PUBLIC_KEY, LANGFUSE_SECRET_KEY, LANGFUSE_BASE_URL=http://127.0.0.1:3000, OPENAI_API_KEY
from langfuse import get_client, observe
from langfuse.openai import openai  # instead of `import openai`

client = openai.OpenAI()


@observe()  # one trace per call, the generations below nested in it
def answer(question: str) -> str:
    stream = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "system", "content": "Answer in one sentence."}, {"role": "user", "content": question}],
        stream=True,
        stream_options={"include_usage": True},
    )
    return "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)


print(answer("What is the capital of France?"))
get_client().flush()  # send everything before the process exits

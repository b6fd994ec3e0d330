# LangChain (chains, LangGraph agents, tools) through the Langfuse SDK's callback handler:
#   LANGFUSE_PUBLIC_KEY, LANGFUSE_SECRET_KEY, LANGFUSE_BASE_URL=http://127.0.0.1:3000, OPENAI_API_KEY
from langchain.agents import create_agent
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI
from langfuse import get_client
from langfuse.langchain import CallbackHandler


@tool
def get_weather(city: str) -> str:
    """Current weather of a city."""
    return f"Sunny in {city}, 21 C"


agent = create_agent(ChatOpenAI(model="gpt-4o-mini"), tools=[get_weather])
result = agent.invoke(
    {"messages": [{"role": "user", "content": "What is the weather in Paris?"}]},
    config={"callbacks": [CallbackHandler()], "metadata": {"langfuse_user_id": "user-1"}},
)
print(result["messages"][-1].content)
get_client().flush()  # send everything before the process exits

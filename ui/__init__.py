"""The Streamlit app: thin pages over the runtime."""

"""Streamlit web UI. It talks to the backend only over HTTP; the backend URL comes as ``--api-url``."""

from __future__ import annotations

import argparse

import httpx
import streamlit as st


def api_url() -> str:
    parser = argparse.ArgumentParser()
    parser.add_argument("--api-url", default="http://127.0.0.1:7861")
    args, _ = parser.parse_known_args()
    return args.api_url.rstrip("/")


def main() -> None:
    st.set_page_config(page_title="Chatchat", page_icon="💬", layout="wide")
    st.title("Chatchat")
    st.caption("Local LLM chat with your own knowledge bases.")
    base = api_url()
    try:
        health = httpx.get(f"{base}/health", timeout=5).json()
    except (httpx.HTTPError, ValueError) as exc:
        st.error(f"The backend at {base} is not reachable: {exc}")
        if st.button("Retry"):
            st.rerun()
        return
    st.success(f"Backend {health.get('status', '?')} at {base}")


main()

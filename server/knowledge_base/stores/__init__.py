"""Vector stores behind one seam (base), chosen by vs_type (factory): FAISS, pgvector, LangChain."""

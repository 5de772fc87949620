"""Knowledge bases: files → loaders → splitter → embeddings → vector store (+ BM25), behind one service."""

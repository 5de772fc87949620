"""Continuous batching over one llama.cpp context: concurrent requests decode together.

One thread owns the context. Each request gets a *slot* (a llama.cpp sequence with its own KV
stream); every step feeds one token for each decoding slot plus a bounded chunk of the prompts
still being prefilled, in a single ``llama_decode``, then samples each slot with its own
sampler chain (penalties, grammar, top-k/top-p/temperature or greedy). New requests join at the
next step, finished or cancelled ones leave; requests beyond ``parallel`` wait in arrival order.

Every request's arithmetic is the same as if it ran alone, so greedy answers do not depend on
what else is running. Two choices make it so, both measured on the bundled model:

* the KV cache is *not* unified: in one shared buffer a sequence's cells interleave with the
  others', which changes the summation order inside attention. Per-sequence streams avoid that,
  at a price: a micro-batch may only hold consecutive sequence ids, so slots in a gap get a
  throw-away token (removed again after the step), nearly free while decoding since the weights
  are read once per step either way;
* flash attention is on: it skips masked cells and sums the rest in position order, whereas the
  plain attention path changes a sequence's logits (by up to ~0.6) when several sequences are
  prefilled in one micro-batch.

Prefix reuse: a slot keeps the tokens of its last request, so the next request that shares a
prefix with it (the next turn of a chat, the same RAG context) only evaluates the rest. When a
longer shared prefix sits in another slot (the system prompt of a request already running), that
slot's stream is copied over first, which costs one memory copy instead of a prefill.
"""

from __future__ import annotations

import contextvars
import functools
import logging
import threading
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

logger = logging.getLogger(__name__)

GREEDY_BELOW = 1e-5  # FastChat's convention: a temperature this low means greedy decoding
DEFAULT_KV_TOKENS = 32768  # the KV cache shared out between the slots when no context is configured
MAX_DEFAULT_CONTEXT = 8192  # a model's training context can be 128k; its KV cache would not fit a laptop
MIN_DEFAULT_CONTEXT = 2048
PREFILL_CHUNK = 128  # prompt tokens evaluated per step while other slots decode
COPY_MIN_TOKENS = 16  # a prefix in another slot must save at least this much prefill to be copied
PENALTY_LAST_N = 64  # llama-cpp-python's default window
DUMMY_TOKEN = 0

Outcome = Literal["done", "abort", "error"]


def default_context(n_ctx_train: int, parallel: int) -> int:
    """Tokens per slot when none is configured: DEFAULT_KV_TOKENS shared out, within sane bounds."""
    share = max(MIN_DEFAULT_CONTEXT, DEFAULT_KV_TOKENS // max(1, parallel))
    return max(1, min(n_ctx_train or MAX_DEFAULT_CONTEXT, MAX_DEFAULT_CONTEXT, share))


def common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    n = min(len(a), len(b))
    for i in range(n):
        if a[i] != b[i]:
            return i
    return n


@dataclass(frozen=True)
class Sampling:
    """How one request picks its tokens (llama-cpp-python's chain, so results match ``Llama.generate``)."""

    temperature: float = 0.0
    top_p: float = 1.0
    top_k: int = 0
    repeat_penalty: float = 1.0
    presence_penalty: float = 0.0
    frequency_penalty: float = 0.0
    seed: int | None = None
    grammar: tuple[str, str] | None = None  # (GBNF text, root rule): decoding is constrained to it

    @property
    def greedy(self) -> bool:
        return self.temperature < GREEDY_BELOW


class Job:
    """One generation as the engine sees it; a subclass decides what each token means.

    The engine calls the hooks on its own thread, inside the context the job was created in
    (so log lines carry the request id). ``on_token`` returns False when the job is finished.
    """

    def __init__(
        self, prompt: list[int], sampling: Sampling, cancelled: threading.Event | None = None
    ) -> None:
        if not prompt:
            raise ValueError("a job needs at least one prompt token")
        self.prompt = prompt
        self.sampling = sampling
        self.cancelled = cancelled or threading.Event()
        self.context = contextvars.copy_context()
        self.reused = 0  # prompt tokens found in the KV cache (set when the job gets a slot)

    def on_start(self) -> None:
        """The job got a slot; ``reused`` says how much of its prompt was cached."""

    def on_token(self, token: int) -> bool:
        raise NotImplementedError

    def on_end(self, outcome: Outcome, detail: str = "") -> None:
        """Called exactly once: finished (``done``), cancelled (``abort``) or failed (``error``)."""


class _Slot:
    __slots__ = ("index", "cached", "job", "pending", "next_token", "sampler", "admitted")

    def __init__(self, index: int) -> None:
        self.index = index
        self.cached: list[int] = []  # tokens whose K/V sit in this slot's stream, positions 0..n-1
        self.job: Job | None = None
        self.pending: list[int] = []  # prompt tokens still to prefill
        self.next_token: int | None = None  # sampled, to be fed at the next step
        self.sampler: Any = None
        self.admitted = 0  # admission order, for fair prefill


class BatchEngine:
    """Owns a llama.cpp model and a multi-sequence context, and the thread that drives them."""

    def __init__(
        self,
        model_path: str,
        *,
        parallel: int = 8,
        context_length: int | None = None,
        n_threads: int = 1,
        n_gpu_layers: int = 0,
        prefill_chunk: int = PREFILL_CHUNK,
    ) -> None:
        import llama_cpp
        import llama_cpp._logger
        from llama_cpp import _internals

        llama_cpp._logger.set_verbose(False)  # llama.cpp's own chatter stays off stderr
        llama_cpp.llama_backend_init()
        self._llama = llama_cpp
        parallel = max(1, min(parallel, llama_cpp.llama_max_parallel_sequences()))
        model_params = llama_cpp.llama_model_default_params()
        model_params.n_gpu_layers = n_gpu_layers
        self.model = _internals.LlamaModel(path_model=model_path, params=model_params, verbose=False)
        per_slot = context_length or default_context(self.model.n_ctx_train(), parallel)
        self.prefill_chunk = max(1, prefill_chunk)
        n_batch = max(512, parallel + self.prefill_chunk)
        params = llama_cpp.llama_context_default_params()
        params.n_ctx = per_slot * parallel
        params.n_seq_max = parallel
        params.kv_unified = False
        params.n_batch = n_batch
        params.n_ubatch = n_batch
        params.n_threads = n_threads
        params.n_threads_batch = n_threads
        # Flash attention keeps a sequence's numbers independent of its micro-batch (module docstring).
        params.flash_attn_type = llama_cpp.LLAMA_FLASH_ATTN_TYPE_ENABLED
        try:
            self._context = _internals.LlamaContext(model=self.model, params=params, verbose=False)
        except ValueError:
            logger.warning("this llama.cpp build has no flash attention here; batched answers may differ")
            params.flash_attn_type = llama_cpp.LLAMA_FLASH_ATTN_TYPE_AUTO
            self._context = _internals.LlamaContext(model=self.model, params=params, verbose=False)
        self.ctx = self._context.ctx
        self._memory = llama_cpp.llama_get_memory(self.ctx)
        self.parallel = parallel
        self.context_len = int(llama_cpp.llama_n_ctx_seq(self.ctx))
        self.n_vocab = self.model.n_vocab()
        self._eos = self.model.token_eos()
        self._batch = llama_cpp.llama_batch_init(n_batch, 0, 1)
        self._slots = [_Slot(i) for i in range(parallel)]
        self._waiting: deque[Job] = deque()
        self._lock = threading.Condition()
        self._closed = False
        self._admissions = 0
        self.evaluated_tokens = 0  # tokens run through the model (prompt chunks and decoded tokens)
        self._thread = threading.Thread(target=self._run, name="llama-batch", daemon=True)
        self._thread.start()

    # ---- outside the engine thread ----------------------------------------------------------

    def tokenize(self, text: str, add_bos: bool) -> list[int]:
        return self.model.tokenize(text.encode("utf-8"), add_bos=add_bos, special=True)

    def piece(self, token: int) -> bytes:
        return self.model.detokenize([token])

    def is_end_of_generation(self, token: int) -> bool:
        return token == self._eos or bool(self._llama.llama_vocab_is_eog(self.model.vocab, token))

    @property
    def add_bos(self) -> bool:
        return bool(self.model.add_bos_token())

    # The model's GGUF as ``Llama`` shows it (``server.llm.chat_template`` reads the chat template).

    @functools.cached_property
    def metadata(self) -> dict[str, str]:
        return self.model.metadata()

    def detokenize(self, tokens: list[int], special: bool = False) -> bytes:
        return self.model.detokenize(tokens, special=special)

    def token_bos(self) -> int:
        return int(self.model.token_bos())

    def token_eos(self) -> int:
        return int(self._eos)

    def submit(self, job: Job) -> None:
        with self._lock:
            if self._closed:
                raise RuntimeError("the engine is closed")
            self._waiting.append(job)
            self._lock.notify()

    def wake(self) -> None:
        """Look at the jobs again now (one was cancelled)."""
        with self._lock:
            self._lock.notify()

    def load(self) -> tuple[int, int]:
        """(requests decoding or prefilling, requests waiting for a slot)."""
        busy = sum(1 for s in self._slots if s.job is not None)
        return busy, len(self._waiting)

    def close(self, timeout: float = 5.0) -> None:
        with self._lock:
            self._closed = True
            self._lock.notify()
        self._thread.join(timeout)
        if self._thread.is_alive():
            logger.warning("the decoding thread did not stop within %.0fs", timeout)
            return
        for slot in self._slots:
            if slot.job is not None:
                self._finish(slot, "abort")
        while self._waiting:
            job = self._waiting.popleft()
            job.context.run(job.on_end, "abort")
        self._llama.llama_batch_free(self._batch)
        self._context.close()
        self.model.close()

    # ---- the engine thread ------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._lock:
                while not self._closed and not self._waiting and not self._has_work():
                    self._lock.wait()
                if self._closed:
                    return
                arrivals = self._take_arrivals()
            copied: set[int] = set()  # streams whose copy is still pending: not a source yet
            for job in arrivals:
                try:
                    self._admit(job, copied)
                except Exception:  # every job gets its answer, even a failure
                    logger.exception("a request could not start decoding")
                    holder = next((s for s in self._slots if s.job is job), None)
                    if holder is not None:
                        self._finish(holder, "error", "the request could not start decoding")
                    else:
                        job.context.run(job.on_end, "error", "the request could not start decoding")
            try:
                self._step()
            except Exception:  # a bug here must not silently stall every request
                logger.exception("decoding step failed")
                for slot in self._slots:
                    if slot.job is not None:
                        self._reset(slot)
                        self._finish(slot, "error", "the decoding step failed")

    def _has_work(self) -> bool:
        return any(s.job is not None for s in self._slots)

    def _take_arrivals(self) -> list[Job]:
        """Waiting jobs for the free slots, oldest first; cancelled ones are answered at once."""
        free = sum(1 for s in self._slots if s.job is None)
        taken: list[Job] = []
        while self._waiting and len(taken) < free:
            job = self._waiting.popleft()
            if job.cancelled.is_set():
                job.context.run(job.on_end, "abort")
                continue
            taken.append(job)
        # Cancelled jobs further back in the queue leave now too, not when their turn comes.
        for job in [j for j in self._waiting if j.cancelled.is_set()]:
            self._waiting.remove(job)
            job.context.run(job.on_end, "abort")
        return taken

    def _admit(self, job: Job, copied: set[int]) -> None:
        llama = self._llama
        prompt = job.prompt
        free = [s for s in self._slots if s.job is None]
        slot = max(free, key=lambda s: (common_prefix(s.cached, prompt), -s.index))
        reuse = common_prefix(slot.cached, prompt)
        donor = max(
            (s for s in self._slots if s is not slot and s.cached and s.index not in copied),
            key=lambda s: common_prefix(s.cached, prompt),
            default=None,
        )
        if donor is not None:
            shared = common_prefix(donor.cached, prompt)
            if shared - reuse >= COPY_MIN_TOKENS:
                # Whole-stream copy (llama.cpp copies streams whole), applied before the next decode.
                llama.llama_memory_seq_cp(self._memory, donor.index, slot.index, -1, -1)
                slot.cached = list(donor.cached)
                copied.add(slot.index)
                reuse = shared
        reuse = min(reuse, len(prompt) - 1)  # the last prompt token is evaluated again for its logits
        if not llama.llama_memory_seq_rm(self._memory, slot.index, reuse, -1):
            llama.llama_memory_seq_rm(self._memory, slot.index, -1, -1)
            reuse = 0
        del slot.cached[reuse:]
        try:
            slot.sampler = self._sampler(job.sampling)
        except ValueError as exc:
            job.context.run(job.on_end, "error", str(exc))
            return
        slot.job = job
        slot.pending = prompt[reuse:]
        slot.next_token = None
        self._admissions += 1
        slot.admitted = self._admissions
        job.reused = reuse
        job.context.run(job.on_start)

    def _sampler(self, sampling: Sampling) -> Any:
        llama = self._llama
        chain = llama.llama_sampler_chain_init(llama.llama_sampler_chain_default_params())

        def add(sampler: Any) -> None:
            llama.llama_sampler_chain_add(chain, sampler)

        add(
            llama.llama_sampler_init_penalties(
                self.n_vocab,
                PENALTY_LAST_N,
                sampling.repeat_penalty,
                sampling.frequency_penalty,
                sampling.presence_penalty,
            )
        )
        if sampling.grammar is not None:
            text, root = sampling.grammar
            grammar = llama.llama_sampler_init_grammar(self.model.vocab, text.encode(), root.encode())
            if not grammar:
                llama.llama_sampler_free(chain)
                raise ValueError("the grammar could not be parsed")
            add(grammar)
        if sampling.greedy:
            add(llama.llama_sampler_init_greedy())
        else:
            seed = llama.LLAMA_DEFAULT_SEED if sampling.seed is None else int(sampling.seed) & 0xFFFFFFFF
            add(llama.llama_sampler_init_top_k(sampling.top_k if sampling.top_k > 0 else 0))
            add(llama.llama_sampler_init_typical(1.0, 1))
            add(llama.llama_sampler_init_top_p(sampling.top_p, 1))
            add(llama.llama_sampler_init_min_p(0.0, 1))
            add(llama.llama_sampler_init_temp(sampling.temperature))
            add(llama.llama_sampler_init_dist(seed))
        return chain

    def _add(self, token: int, pos: int, seq: int, logits: bool) -> int:
        batch = self._batch
        i = batch.n_tokens
        batch.token[i] = token
        batch.pos[i] = pos
        batch.seq_id[i][0] = seq
        batch.n_seq_id[i] = 1
        batch.logits[i] = logits
        batch.n_tokens = i + 1
        return i

    def _step(self) -> None:
        llama = self._llama
        for slot in self._slots:
            if slot.job is not None and slot.job.cancelled.is_set():
                self._finish(slot, "abort")
        plan: dict[int, list[int]] = {}
        for slot in self._slots:
            if slot.job is not None and not slot.pending and slot.next_token is not None:
                if len(slot.cached) >= self.context_len:  # defensive: jobs bound their own length
                    self._finish(slot, "done")
                    continue
                plan[slot.index] = [slot.next_token]
        budget = self.prefill_chunk
        for slot in sorted(
            (s for s in self._slots if s.job is not None and s.pending), key=lambda s: s.admitted
        ):
            if budget <= 0:
                break
            plan[slot.index] = slot.pending[:budget]
            budget -= len(plan[slot.index])
        if not plan:
            return
        self._batch.n_tokens = 0
        samples: list[tuple[_Slot, int]] = []
        dummies: list[tuple[int, int]] = []
        for index in range(min(plan), max(plan) + 1):  # a micro-batch holds consecutive sequences only
            slot = self._slots[index]
            tokens = plan.get(index)
            if tokens is None:
                if len(slot.cached) >= self.context_len:
                    llama.llama_memory_seq_rm(self._memory, index, len(slot.cached) - 1, -1)
                    slot.cached.pop()
                dummies.append((index, len(slot.cached)))
                self._add(DUMMY_TOKEN, len(slot.cached), index, False)
                continue
            completes = not slot.pending or len(tokens) == len(slot.pending)
            start = len(slot.cached)
            for k, token in enumerate(tokens):
                last = k == len(tokens) - 1
                position = self._add(token, start + k, index, last and completes)
            if completes:
                samples.append((slot, position))
        code = llama.llama_decode(self.ctx, self._batch)
        for index, position in dummies:
            llama.llama_memory_seq_rm(self._memory, index, position, -1)
        if code != 0:
            logger.error("llama_decode returned %d for %d tokens", code, self._batch.n_tokens)
            for index in plan:
                slot = self._slots[index]
                self._reset(slot)
                self._finish(slot, "error", f"llama_decode failed ({code})")
            return
        self.evaluated_tokens += self._batch.n_tokens - len(dummies)
        for index, tokens in plan.items():
            slot = self._slots[index]
            slot.cached.extend(tokens)
            if slot.pending:
                slot.pending = slot.pending[len(tokens) :]
        for slot, position in samples:
            job = slot.job
            assert job is not None
            token = int(llama.llama_sampler_sample(slot.sampler, self.ctx, position))
            try:
                keep = job.context.run(job.on_token, token)
            except Exception as exc:
                logger.exception("a request failed while reading its tokens")
                self._finish(slot, "error", str(exc))
                continue
            if keep:
                slot.next_token = token
            else:
                self._finish(slot, "done")

    def _reset(self, slot: _Slot) -> None:
        self._llama.llama_memory_seq_rm(self._memory, slot.index, -1, -1)
        slot.cached = []

    def _finish(self, slot: _Slot, outcome: Outcome, detail: str = "") -> None:
        job = slot.job
        slot.job = None
        slot.pending = []
        slot.next_token = None
        if slot.sampler is not None:
            self._llama.llama_sampler_free(slot.sampler)
            slot.sampler = None
        if job is not None:
            try:
                job.context.run(job.on_end, outcome, detail)
            except Exception:
                logger.exception("a request failed while finishing")

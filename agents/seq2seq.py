"""Sequence to sequence (HW5): an encoder-decoder transformer, its decoding, and REINFORCE on a
sequence reward.

- :class:`Seq2SeqTransformer`: the encoder reads the input sequence; the decoder writes the
  output one token at a time, attending to its own earlier tokens (masked self-attention) and
  to the encoder's states (cross-attention). Trained with *teacher forcing*: the decoder's input
  is the target shifted right by one (a BOS token first), so every position is trained in one
  pass. The causal mask stops position t from reading the token it must predict (the input at
  t + 1); ``causal=False`` removes it, which a lecture shows is fatal at inference time, when
  that token does not exist yet.
- :func:`greedy_decode` and :func:`beam_search` write a whole output from the input alone.
- :func:`sample_sequences` and :func:`reinforce_sequence_loss`: when the score of a whole
  output (exact match, BLEU) cannot be differentiated, sample outputs and push up the
  log-probability of those that beat a baseline (REINFORCE; the self-critical baseline is the
  greedy output's score, Rennie et al. 2017).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def causal_mask(length: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """(length, length) bool, True where attention is *blocked*: position i may read j <= i only."""
    return torch.triu(torch.ones(length, length, dtype=torch.bool, device=device), diagonal=1)


class Seq2SeqTransformer(nn.Module):
    """Input sequence (B, T_in, D_in) -> logits of the output tokens (B, T_out, n_tokens).

    ``forward(obs, target)`` teacher-forces ``target`` (B, T_out); ``forward(obs)`` decodes
    greedily (its logits are those of each greedy step). Token ``n_tokens`` is the decoder's BOS.
    """

    teacher_forced = True
    """the supervised learner hands it the batch's targets while training"""

    def __init__(
        self,
        in_dim: int,
        in_len: int,
        out_len: int,
        n_tokens: int,
        d_model: int = 64,
        heads: int = 4,
        layers: int = 2,
        causal: bool = True,
    ):
        super().__init__()
        self.out_len, self.n_tokens, self.bos, self.causal = out_len, n_tokens, n_tokens, causal
        self.embed_in = nn.Linear(in_dim, d_model)
        self.position_in = nn.Parameter(0.02 * torch.randn(1, in_len, d_model))
        self.embed_out = nn.Embedding(n_tokens + 1, d_model)  # + BOS
        self.position_out = nn.Parameter(0.02 * torch.randn(1, out_len, d_model))
        self.transformer = nn.Transformer(
            d_model, heads, layers, layers, dim_feedforward=4 * d_model, dropout=0.0, batch_first=True, norm_first=True
        )
        self.head = nn.Linear(d_model, n_tokens)

    def encode(self, obs: torch.Tensor) -> torch.Tensor:
        """(B, T_in, D_in) -> encoder states ("memory") (B, T_in, d_model)."""
        return self.transformer.encoder(self.embed_in(obs) + self.position_in)

    def decode(self, memory: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        """Logits (B, t + 1, n_tokens) of the token after each prefix of BOS + ``tokens`` (B, t)."""
        bos = torch.full((len(tokens), 1), self.bos, dtype=torch.long, device=tokens.device)
        inputs = torch.cat([bos, tokens.long()], dim=1)  # (B, t + 1)
        length = inputs.shape[1]
        x = self.embed_out(inputs) + self.position_out[:, :length]  # (B, t + 1, d_model)
        mask = causal_mask(length, x.device) if self.causal else None
        return self.head(self.transformer.decoder(x, memory, tgt_mask=mask))

    def forward(self, obs: torch.Tensor, target: torch.Tensor | None = None) -> torch.Tensor:
        if target is None:
            return greedy_decode(self, obs)[1]
        # teacher forcing: position t reads target[:, :t] and predicts target[:, t]
        return self.decode(self.encode(obs), target[:, :-1])  # (B, T_out, n_tokens)


def greedy_decode(model: Seq2SeqTransformer, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Write the output one token at a time, each the most likely after the ones before:
    ``(tokens (B, T_out), logits (B, T_out, n_tokens))``."""
    memory = model.encode(obs)
    tokens = torch.zeros(len(obs), 0, dtype=torch.long, device=obs.device)
    step_logits = []
    for _ in range(model.out_len):
        logits = model.decode(memory, tokens)[:, -1]  # (B, n_tokens): the next token's
        step_logits.append(logits)
        tokens = torch.cat([tokens, logits.argmax(dim=-1, keepdim=True)], dim=1)
    return tokens, torch.stack(step_logits, dim=1)


def beam_search(model: Seq2SeqTransformer, obs: torch.Tensor, beam_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Keep the ``beam_size`` most likely prefixes at every step instead of one; return the most
    likely whole output and its log-probability: ``(tokens (B, T_out), log_prob (B,))``.
    ``beam_size=1`` is greedy decoding."""
    n, k, vocab = len(obs), beam_size, model.n_tokens
    memory = model.encode(obs).repeat_interleave(k, dim=0)  # (B * k, T_in, d_model)
    tokens = torch.zeros(n * k, 0, dtype=torch.long, device=obs.device)
    scores = torch.full((n, k), float("-inf"), device=obs.device)
    scores[:, 0] = 0.0  # one live beam at the start: the others would repeat it
    for _ in range(model.out_len):
        log_prob = F.log_softmax(model.decode(memory, tokens)[:, -1], dim=-1)  # (B * k, V)
        total = scores.unsqueeze(-1) + log_prob.reshape(n, k, vocab)  # (B, k, V): every extension
        scores, flat = total.reshape(n, k * vocab).topk(k, dim=-1)  # (B, k) best extensions
        parent, token = flat // vocab, flat % vocab  # which beam each extends, with which token
        rows = (torch.arange(n, device=obs.device).unsqueeze(1) * k + parent).reshape(-1)  # (B * k,)
        tokens = torch.cat([tokens[rows], token.reshape(-1, 1)], dim=1)
    return tokens.reshape(n, k, -1)[:, 0], scores[:, 0]  # topk sorts: beam 0 is the best


def sample_sequences(model: Seq2SeqTransformer, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Sample an output token by token from the model's softmax: ``(tokens (B, T_out),
    log_prob (B,))``, the log-probability differentiable in the model's weights."""
    memory = model.encode(obs)
    tokens = torch.zeros(len(obs), 0, dtype=torch.long, device=obs.device)
    for _ in range(model.out_len):
        logits = model.decode(memory, tokens)[:, -1]  # (B, V)
        token = torch.multinomial(F.softmax(logits.detach(), dim=-1), 1)  # (B, 1)
        tokens = torch.cat([tokens, token], dim=1)
    # one teacher-forced pass over the sampled tokens gives every step's log-probability with a graph
    log_prob = F.log_softmax(model.decode(memory, tokens[:, :-1]), dim=-1)  # (B, T_out, V)
    return tokens, log_prob.gather(-1, tokens.unsqueeze(-1)).squeeze(-1).sum(dim=1)


def reinforce_sequence_loss(log_prob: torch.Tensor, reward: torch.Tensor, baseline: torch.Tensor) -> torch.Tensor:
    """REINFORCE for whole sequences: ``-mean((reward - baseline) * log_prob)``, all (B,). Its
    gradient is an unbiased estimate of -d E[reward] / d weights for any baseline that does not
    depend on the sampled sequence."""
    return -((reward - baseline).detach() * log_prob).mean()


def exact_match(tokens: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """1.0 where the whole output equals the target: (B, T), (B, T) -> (B,)."""
    return (tokens == target).all(dim=-1).float()

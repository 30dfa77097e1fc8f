"""Typical PyTorch snippets that run unchanged on chainrule (issue 9, "Proof").

Each snippet is written once, as a function of a module namespace: ``torch``, ``nn``, ``F`` and
``optim``. It runs with chainrule bound to those names (``torch=chainrule``,
``nn=chainrule.nn``, ``F=chainrule.nn.functional``, ``optim=chainrule.optim``) and, where PyTorch
is installed, with PyTorch too. Both runs start from the same weights: the model is built in
each library, PyTorch's ``state_dict`` is loaded into chainrule's (the names must map one to one
and in the same order), and the results (losses, outputs, gradients, parameters after the
optimiser's steps, dtypes) are compared with float32 tolerances.

Without PyTorch the snippets still run under chainrule and their facts are checked (shapes,
finite values, a loss that goes down, closed forms); the comparisons skip with a reason.

Two choices keep the comparison meaningful: a parameter whose gradient is zero in exact
arithmetic (a key bias in attention, a conv bias before BatchNorm) holds rounding noise in both
libraries, which Adam would scale up to a full step of either sign, so those snippets use SGD
or ``bias=False``; and a snapshot of a ``state_dict`` is taken with ``copy.deepcopy``, since
PyTorch's shares the parameters' memory where chainrule's is a copy.

The tests at the end pin what the snippets found missing or wrong in chainrule (PyTorch's
``split``/``chunk``/``unbind``, method and function spellings, item assignment, in-place
``copy_``/``masked_fill_``/``normal_``/``uniform_``, ``norm(p=)``, ``flip(dims=)``).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

import chainrule
import chainrule.nn
import chainrule.nn.functional
import chainrule.optim
from chainrule.testing import gradcheck, gradgradcheck

try:
    import torch as _torch
except ImportError:  # CI: chainrule only
    _torch = None

CHAINRULE = SimpleNamespace(
    torch=chainrule, nn=chainrule.nn, F=chainrule.nn.functional, optim=chainrule.optim
)
PYTORCH = (
    SimpleNamespace(torch=_torch, nn=_torch.nn, F=_torch.nn.functional, optim=_torch.optim)
    if _torch is not None
    else None
)
needs_torch = pytest.mark.skipif(
    _torch is None, reason="PyTorch is not installed: the snippets ran under chainrule only"
)


# ================================================================== the snippets
# Written as PyTorch code: nothing in them knows which library runs them.


def build_classifier(torch, nn, F):
    return nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 3))


def classifier_loop(torch, nn, F, optim, model, X, y):
    X, y = torch.tensor(X), torch.tensor(y)
    criterion = nn.CrossEntropyLoss()
    optimizer = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    losses, accuracy = [], []
    for _epoch in range(4):
        model.train()
        for i in range(0, len(X), 16):
            xb, yb = X[i : i + 16], y[i : i + 16]
            optimizer.zero_grad()
            out = model(xb)
            loss = criterion(out, yb)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        model.eval()
        correct = 0
        with torch.no_grad():
            out = model(X)
            _, pred = out.max(1)
            correct += (pred == y).sum().item()
        accuracy.append(correct / y.size(0))
    return {
        "losses": losses,
        "accuracy": accuracy,
        "pred": pred,
        "logits": out,
        "state": model.state_dict(),
    }


def build_linear(torch, nn, F):
    return nn.Linear(3, 1)


def manual_sgd(torch, nn, F, optim, model, X, y):
    X, y = torch.from_numpy(X), torch.from_numpy(y)
    weight = model.weight
    lr = 0.1
    losses = []
    for _step in range(15):
        pred = model(X)
        loss = ((pred - y) ** 2).mean()
        loss.backward()
        with torch.no_grad():
            for p in model.parameters():
                p -= lr * p.grad
        model.zero_grad()
        losses.append(loss.item())
    return {
        "losses": losses,
        "state": model.state_dict(),
        "same_parameter": model.weight is weight,
        "grad_after_zero_grad": model.weight.grad,
        "requires_grad": model.weight.requires_grad,
    }


def build_lstm(torch, nn, F):
    class Tagger(nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = nn.LSTM(
                input_size=5, hidden_size=6, num_layers=2, batch_first=True, bidirectional=True
            )
            self.head = nn.Linear(2 * 6, 3)

        def forward(self, x):
            out, (h, c) = self.lstm(x)
            return self.head(out[:, -1, :]), out, h, c

    return Tagger()


def lstm_step(torch, nn, F, optim, model, X, y):
    x, target = torch.tensor(X), torch.tensor(y)
    optimizer = optim.SGD(model.parameters(), lr=0.5)
    logits, out, h, c = model(x)
    loss = F.cross_entropy(logits, target)
    optimizer.zero_grad()
    loss.backward()
    grads = {name: p.grad.clone() for name, p in model.named_parameters()}
    optimizer.step()
    return {
        "out": out,
        "h_n": h,
        "c_n": c,
        "loss": loss.item(),
        "grads": grads,
        "state": model.state_dict(),
    }


def build_gru(torch, nn, F):
    return nn.GRU(input_size=4, hidden_size=5, batch_first=True)


def gru_step(torch, nn, F, optim, model, X, y):
    x, target = torch.tensor(X), torch.tensor(y)
    optimizer = optim.Adam(model.parameters(), lr=0.05)
    losses = []
    for _epoch in range(4):
        h = torch.zeros(1, x.size(0), 5)
        outs, epoch_loss = [], 0.0
        for chunk in torch.split(x, 3, dim=1):  # truncated backpropagation through time
            optimizer.zero_grad()
            out, h = model(chunk, h)
            loss = F.mse_loss(out[:, -1], target)
            loss.backward()
            optimizer.step()
            h = h.detach()
            epoch_loss += loss.item()
            outs.append(out.detach())
        losses.append(epoch_loss)
    return {"losses": losses, "outs": outs, "h_n": h, "state": model.state_dict()}


def build_transformer(torch, nn, F):
    class Encoder(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Embedding(11, 8)
            self.layer = nn.TransformerEncoderLayer(
                d_model=8, nhead=2, dim_feedforward=16, dropout=0.0, batch_first=True
            )
            self.head = nn.Linear(8, 2)

        def forward(self, tokens, padding_mask):
            h = self.layer(self.embed(tokens), src_key_padding_mask=padding_mask)
            return self.head(h[:, 0]), h

    return Encoder()


def transformer_step(torch, nn, F, optim, model, tokens, y):
    tokens, target = torch.tensor(tokens), torch.tensor(y)
    padding_mask = tokens == 0
    # SGD, not Adam: the key bias's gradient is 0 in exact arithmetic (softmax ignores a
    # constant added to a query's scores), so both libraries hold rounding noise there, which
    # Adam would scale up to a full step of either sign.
    optimizer = optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=0.01)
    model.train()
    logits, h = model(tokens, padding_mask)
    loss = F.cross_entropy(logits, target)
    optimizer.zero_grad()
    loss.backward()
    grads = {name: p.grad.clone() for name, p in model.named_parameters()}
    optimizer.step()
    return {"hidden": h, "loss": loss.item(), "grads": grads, "state": model.state_dict()}


def build_unet_block(torch, nn, F):
    class UNetBlock(nn.Module):
        def __init__(self):
            super().__init__()
            self.enc = nn.Sequential(nn.Conv2d(1, 4, kernel_size=3, padding=1), nn.ReLU())
            self.down = nn.MaxPool2d(2)
            self.mid = nn.Sequential(nn.Conv2d(4, 8, 3, padding=1), nn.ReLU())
            self.up = nn.ConvTranspose2d(8, 4, kernel_size=2, stride=2)
            self.dec = nn.Conv2d(8, 4, 3, padding=1)
            self.out = nn.Conv2d(4, 1, kernel_size=1)

        def forward(self, x):
            e = self.enc(x)
            m = self.mid(self.down(e))
            u = self.up(m)
            d = F.relu(self.dec(torch.cat([u, e], dim=1)))  # the skip connection
            return self.out(d)

    return UNetBlock()


def unet_step(torch, nn, F, optim, model, X, y):
    x, target = torch.tensor(X), torch.tensor(y)
    optimizer = optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for step in range(3):
        optimizer.zero_grad()
        logits = model(x)
        loss = F.binary_cross_entropy_with_logits(logits, target)
        loss.backward()
        if step == 0:
            grads = {name: p.grad.clone() for name, p in model.named_parameters()}
        optimizer.step()
        losses.append(loss.item())
    return {"logits": logits, "losses": losses, "grads": grads, "state": model.state_dict()}


def build_batchnorm(torch, nn, F):
    return nn.Sequential(
        nn.Conv2d(2, 3, 3, padding=1),
        nn.BatchNorm2d(3),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(3 * 4 * 4, 6),
        nn.BatchNorm1d(6, momentum=0.2),
        nn.Linear(6, 1),
    )


def batchnorm_train_eval(torch, nn, F, optim, model, X, y):
    x, target = torch.tensor(X), torch.tensor(y)
    optimizer = optim.SGD(model.parameters(), lr=0.05)
    model.train()
    losses = []
    for _step in range(3):
        optimizer.zero_grad()
        out_train = model(x)
        loss = F.mse_loss(out_train, target)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    model.eval()
    with torch.no_grad():
        out_eval = model(x)
        out_eval_one = model(x[:1])  # one sample is fine in eval mode
    return {
        "losses": losses,
        "out_train": out_train.detach(),
        "out_eval": out_eval,
        "out_eval_one": out_eval_one,
        "state": model.state_dict(),
    }


def build_mlp_regressor(torch, nn, F):
    return nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 1))


def adam_steplr(torch, nn, F, optim, model, X, y):
    X, y = torch.tensor(X), torch.tensor(y)
    optimizer = optim.Adam(model.parameters(), lr=0.05, betas=(0.9, 0.99))
    scheduler = optim.lr_scheduler.StepLR(optimizer, step_size=2, gamma=0.5)
    losses, lrs = [], []
    for _epoch in range(6):
        optimizer.zero_grad()
        loss = F.mse_loss(model(X), y)
        loss.backward()
        optimizer.step()
        scheduler.step()
        losses.append(loss.item())
        lrs.append((scheduler.get_last_lr()[0], optimizer.param_groups[0]["lr"]))
    return {
        "losses": losses,
        "lrs": lrs,
        "state": model.state_dict(),
        "exp_avg_sq": optimizer.state[model[0].weight]["exp_avg_sq"],
    }


def build_bag_of_embeddings(torch, nn, F):
    class Bag(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(20, 6, padding_idx=0)
            self.fc = nn.Linear(2 * 6, 1)

        def forward(self, tokens):
            e = self.emb(tokens)
            mask = (tokens != 0).unsqueeze(-1).float()
            masked_mean = (e * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1)
            return self.fc(torch.cat((masked_mean, e.mean(dim=1)), dim=-1)).squeeze(-1)

    return Bag()


def embedding_bag_step(torch, nn, F, optim, model, tokens, y):
    tokens, labels = torch.tensor(tokens), torch.tensor(y)
    optimizer = optim.SGD(model.parameters(), lr=1.0)
    optimizer.zero_grad()
    logits = model(tokens)
    loss = F.binary_cross_entropy_with_logits(logits, labels)
    loss.backward()
    emb_grad = model.emb.weight.grad.clone()
    optimizer.step()
    probs = torch.sigmoid(logits.detach())
    return {
        "logits": logits,
        "probs": probs,
        "loss": loss.item(),
        "emb_grad": emb_grad,
        "state": model.state_dict(),
    }


def build_nothing(torch, nn, F):
    return None


def tensor_manipulation(torch, nn, F, optim, model, X, index):
    x = torch.tensor(X, requires_grad=True)  # (2, 3, 4)
    idx = torch.tensor(index)  # (2, 3, 2) int64
    flat = x.view(2, -1)
    cols = x.permute(0, 2, 1).unsqueeze(1)  # (2, 1, 4, 3)
    picked = torch.gather(x, 2, idx)  # (2, 3, 2)
    masked = x.masked_fill(x < 0, 0.0)
    top_values, top_indices = x.topk(2, dim=-1)
    sorted_values, sorted_indices = torch.sort(flat, dim=1, descending=True)
    running = torch.cumsum(x, dim=-1)
    chosen = torch.where(x > 0.5, x * 2, -x)
    edited = x.clone()
    # item assignment, recorded; the value is read from x, since chainrule refuses to backward
    # through a slice of `edited` taken before the assignment (PyTorch allows it)
    edited[:, 0] = x[:, 1] * 2
    edited[edited < -1] = -1.0
    total = (
        (flat * torch.arange(12.0)).sum()
        + (cols.squeeze(1)[:, 1:, :] ** 2).sum()
        + picked.sum()
        + masked.exp().sum()
        + top_values.sum()
        + (sorted_values[:, :3] * 3).sum()
        + running.tanh().sum()
        + chosen.sum()
        + (edited * torch.linspace(0.5, 1.5, 4)).sum()
    )
    total.backward()
    return {
        "picked": picked.detach(),
        "masked": masked.detach(),
        "top_values": top_values.detach(),
        "top_indices": top_indices,
        "sorted_values": sorted_values.detach(),
        "sorted_indices": sorted_indices,
        "running": running.detach(),
        "chosen": chosen.detach(),
        "edited": edited.detach(),
        "total": total.item(),
        "grad": x.grad,
        "shapes": [tuple(flat.shape), tuple(cols.shape), tuple(picked.size())],
    }


def causal_attention(torch, nn, F, optim, model, Q, K, V):
    q = torch.tensor(Q, requires_grad=True)
    k = torch.tensor(K, requires_grad=True)
    v = torch.tensor(V, requires_grad=True)
    L = q.size(-2)
    out = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    allowed = torch.ones(L, L, dtype=torch.bool).tril()
    out_mask = F.scaled_dot_product_attention(q, k, v, attn_mask=allowed)
    bias = torch.zeros(L, L).masked_fill(~allowed, float("-inf"))
    out_bias = F.scaled_dot_product_attention(q, k, v, attn_mask=bias, scale=0.3)
    weights = torch.linspace(-1.0, 1.0, out.numel()).view(out.shape)
    (out * weights).sum().backward(retain_graph=True)
    grads = [q.grad.clone(), k.grad.clone(), v.grad.clone()]
    (out_bias**2).sum().backward()
    return {
        "out": out.detach(),
        "out_mask": out_mask.detach(),
        "out_bias": out_bias.detach(),
        "grads": grads,
        "accumulated": [q.grad, k.grad, v.grad],
    }


def regression_clip(torch, nn, F, optim, model, X, y):
    X, y = torch.tensor(X), torch.tensor(y)
    criterion = nn.MSELoss()
    optimizer = optim.SGD(model.parameters(), lr=0.2)
    losses, norms, clipped = [], [], []
    for _epoch in range(10):
        optimizer.zero_grad()
        loss = criterion(model(X), y)
        loss.backward()
        norm = nn.utils.clip_grad_norm_(model.parameters(), max_norm=0.5)
        norms.append(float(norm))
        clipped.append(math.sqrt(sum((p.grad**2).sum().item() for p in model.parameters())))
        optimizer.step()
        losses.append(loss.item())
    return {"losses": losses, "norms": norms, "clipped": clipped, "state": model.state_dict()}


def scratch_lstm_cell(torch, nn, F, optim, model, X, W, U, b):
    x = torch.tensor(X)  # (batch, time, features)
    W = torch.tensor(W, requires_grad=True)  # (features, 4 * hidden)
    U = torch.tensor(U, requires_grad=True)  # (4 * hidden, hidden)
    b = torch.tensor(b, requires_grad=True)
    batch, steps, _ = x.shape
    hidden = U.size(1)
    h, c = x.new_zeros(batch, hidden), x.new_zeros(batch, hidden)
    hs = []
    for x_t in x.unbind(1):
        gates = x_t.mm(W) + h.mm(U.t()) + b
        i, f, g, o = gates.chunk(4, dim=1)
        i, f, o = torch.sigmoid(i), torch.sigmoid(f), torch.sigmoid(o)
        c = f * c + i * torch.tanh(g)
        h = o * c.tanh()
        hs.append(h)
    out = torch.stack(hs, dim=1)
    loss = out.pow(2).sum().sqrt() + out.neg().exp().mean()
    loss.backward()
    return {"out": out.detach(), "loss": loss.item(), "grads": [W.grad, U.grad, b.grad]}


def build_positional_transformer(torch, nn, F):
    class PositionalEncoding(nn.Module):  # as in PyTorch's tutorial, batch first
        def __init__(self, d_model, max_len=16):
            super().__init__()
            position = torch.arange(max_len).unsqueeze(1)
            div_term = torch.exp(torch.arange(0, d_model, 2) * (-math.log(10000.0) / d_model))
            pe = torch.zeros(1, max_len, d_model)
            pe[0, :, 0::2] = torch.sin(position * div_term)
            pe[0, :, 1::2] = torch.cos(position * div_term)
            self.register_buffer("pe", pe)

        def forward(self, x):
            return x + self.pe[:, : x.size(1)]

    class TinyLM(nn.Module):
        def __init__(self, vocab=11, d_model=8):
            super().__init__()
            self.d_model = d_model
            self.embed = nn.Embedding(vocab, d_model)
            self.pos = PositionalEncoding(d_model)
            self.layer = nn.TransformerEncoderLayer(
                d_model, nhead=2, dim_feedforward=16, dropout=0.0, activation="gelu",
                batch_first=True, norm_first=True,
            )  # fmt: skip
            self.out = nn.Linear(d_model, vocab)

        def forward(self, tokens):
            L = tokens.size(1)
            causal = torch.triu(torch.full((L, L), float("-inf")), diagonal=1)
            h = self.pos(self.embed(tokens) * math.sqrt(self.d_model))
            return self.out(self.layer(h, src_mask=causal))

    return TinyLM()


def language_model_step(torch, nn, F, optim, model, tokens, y):
    tokens = torch.tensor(tokens)
    optimizer = optim.SGD(model.parameters(), lr=0.05)
    losses = []
    for _step in range(3):
        logits = model(tokens)
        loss = F.cross_entropy(logits[:, :-1].reshape(-1, 11), tokens[:, 1:].reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return {
        "logits": logits.detach(),
        "losses": losses,
        "pe": model.pos.pe,
        "state": model.state_dict(),
    }


def scratch_attention(torch, nn, F, optim, model, Q, K, V):
    q = torch.tensor(Q, requires_grad=True)
    k = torch.tensor(K, requires_grad=True)
    v = torch.tensor(V, requires_grad=True)
    d_k, L = q.size(-1), q.size(-2)
    scores = torch.matmul(q, k.transpose(-2, -1)) / math.sqrt(d_k)
    mask = torch.tril(torch.ones(L, L))
    scores.masked_fill_(mask == 0, float("-inf"))  # in place, on a recorded tensor
    p_attn = scores.softmax(dim=-1)
    out = torch.matmul(p_attn, v)
    fused = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    (out.sum() + (out * fused).sum()).backward()
    return {"out": out.detach(), "fused": fused.detach(), "grads": [q.grad, k.grad, v.grad]}


def build_ema_model(torch, nn, F):
    return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))


def ema_training(torch, nn, F, optim, model, X, y):
    X, y = torch.tensor(X), torch.tensor(y)

    def init_weights(m):
        if isinstance(m, nn.Linear):
            with torch.no_grad():
                m.bias.fill_(0.01)
                m.weight.mul_(0.5)

    model.apply(init_weights)
    ema = [p.detach().clone() for p in model.parameters()]
    optimizer = optim.SGD(model.parameters(), lr=0.2)
    losses = []
    for _step in range(6):
        optimizer.zero_grad()
        loss = F.cross_entropy(model(X), y)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        with torch.no_grad():
            for e, p in zip(ema, model.parameters()):
                e.mul_(0.8).add_(p, alpha=0.2)
    # a snapshot: PyTorch's state_dict shares the parameters' memory (chainrule's copies)
    trained = copy.deepcopy(model.state_dict())
    with torch.no_grad():
        for e, p in zip(ema, model.parameters()):
            p.copy_(e)
    return {"losses": losses, "trained": trained, "ema_state": model.state_dict(), "ema": ema}


def build_attention_block(torch, nn, F):
    return nn.MultiheadAttention(embed_dim=8, num_heads=2, batch_first=True)


def multihead_attention(torch, nn, F, optim, model, X, lengths):
    x = torch.tensor(X)
    lengths = torch.tensor(lengths)
    key_padding_mask = torch.arange(x.size(1)).unsqueeze(0) >= lengths.unsqueeze(1)
    out, attn = model(x, x, x, key_padding_mask=key_padding_mask)
    out_all, attn_heads = model(x, x, x, need_weights=True, average_attn_weights=False)
    loss = out.pow(2).mean() + out_all.abs().mean()
    loss.backward()
    grads = {name: p.grad for name, p in model.named_parameters()}
    return {"out": out, "attn": attn, "attn_heads": attn_heads, "loss": loss.item(), "grads": grads}


def build_cnn(torch, nn, F):
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1, bias=False),  # a bias before BatchNorm has no gradient
        nn.BatchNorm2d(4),
        nn.GELU(),
        nn.MaxPool2d(2),
        nn.Conv2d(4, 6, 3, padding="same"),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d((1, 1)),
        nn.Flatten(),
        nn.Dropout(0.0),
        nn.LayerNorm(6),
        nn.Linear(6, 3),
    )


def cnn_classifier(torch, nn, F, optim, model, X, y):
    X, y = torch.tensor(X), torch.tensor(y)
    criterion = nn.CrossEntropyLoss(label_smoothing=0.1)
    optimizer = optim.AdamW(model.parameters(), lr=0.02, weight_decay=0.05)
    scheduler = optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=4)
    n_params = sum(p.numel() for p in model.parameters() if p.requires_grad)
    losses, lrs = [], []
    for _epoch in range(4):
        model.train()
        for xb, yb in zip(X.split(4), y.split(4)):
            optimizer.zero_grad(set_to_none=True)
            loss = criterion(model(xb), yb)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        scheduler.step()
        lrs.append(optimizer.param_groups[0]["lr"])
    model.eval()
    with torch.no_grad():
        probs = F.softmax(model(X), dim=1)
        pred = torch.argmax(probs, dim=1)
    return {
        "n_params": n_params,
        "losses": losses,
        "lrs": lrs,
        "probs": probs,
        "pred": pred,
        "state": model.state_dict(),
    }


def build_twins(torch, nn, F):
    return nn.ModuleList(
        [nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 1)) for _ in range(5)]
    )


def optimizer_zoo(torch, nn, F, optim, model, X, y):
    X, y = torch.tensor(X), torch.tensor(y)
    optimizers = [
        optim.SGD(model[0].parameters(), lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-2),
        optim.Adam(model[1].parameters(), lr=0.05, amsgrad=True, weight_decay=1e-2),
        optim.AdamW(model[2].parameters(), lr=0.05, betas=(0.8, 0.95), eps=1e-6),
        optim.RMSprop(model[3].parameters(), lr=0.01, alpha=0.9, momentum=0.5, centered=True),
        optim.Adagrad(model[4].parameters(), lr=0.1, lr_decay=0.01, weight_decay=1e-3),
    ]
    losses = []
    for _step in range(4):
        row = []
        for net, optimizer in zip(model, optimizers):
            optimizer.zero_grad()
            loss = F.mse_loss(net(X), y)
            loss.backward()
            optimizer.step()
            row.append(loss.item())
        losses.append(row)
    return {"losses": losses, "state": model.state_dict()}


def scheduler_zoo(torch, nn, F, optim, model, X, y):
    def sgd():
        return optim.SGD(model.parameters(), lr=0.1)

    schedulers = [
        optim.lr_scheduler.ExponentialLR(sgd(), gamma=0.9),
        optim.lr_scheduler.LinearLR(sgd(), start_factor=0.25, total_iters=4),
        optim.lr_scheduler.OneCycleLR(sgd(), max_lr=1.0, total_steps=8),
        optim.lr_scheduler.CosineAnnealingLR(sgd(), T_max=5, eta_min=0.01),
        optim.lr_scheduler.StepLR(sgd(), step_size=3, gamma=0.1),
    ]
    plateau_opt = sgd()
    plateau = optim.lr_scheduler.ReduceLROnPlateau(plateau_opt, mode="min", factor=0.5, patience=1)
    lrs, plateau_lrs = [], []
    for epoch in range(7):
        for scheduler in schedulers:
            scheduler.optimizer.step()
            scheduler.step()
        lrs.append([s.get_last_lr()[0] for s in schedulers])
        plateau.step(1.0 if epoch < 2 else 2.0)  # stops improving after epoch 1
        plateau_lrs.append(plateau_opt.param_groups[0]["lr"])
    return {"lrs": lrs, "plateau_lrs": plateau_lrs}


def build_frozen(torch, nn, F):
    return nn.Sequential(nn.Linear(3, 6), nn.ReLU(), nn.Linear(6, 1))


def old_style_sgd(torch, nn, F, optim, model, X, y):
    X, y = torch.tensor(X), torch.tensor(y)
    for p in model[0].parameters():
        p.requires_grad_(False)  # freeze the first layer
    trainable = [p for p in model.parameters() if p.requires_grad]
    frozen = model[0].weight.detach().clone()
    losses = []
    for _step in range(10):
        loss = F.l1_loss(model(X), y) + 0.5 * F.smooth_l1_loss(model(X), y, beta=0.5)
        loss.backward()
        for p in trainable:
            p.data -= 0.05 * p.grad.data
            p.grad = None
        losses.append(loss.item())
    return {
        "losses": losses,
        "n_trainable": len(trainable),
        "first_grad": model[0].weight.grad,
        "frozen_unchanged": bool((model[0].weight == frozen).all()),
        "state": model.state_dict(),
    }


def build_text_cnn(torch, nn, F):
    class TextCNN(nn.Module):
        def __init__(self):
            super().__init__()
            self.embedding = nn.Embedding(12, 5)
            self.conv = nn.Conv1d(5, 4, kernel_size=3, padding=1)
            self.fc = nn.Linear(4, 3)

        def forward(self, tokens):
            x = self.embedding(tokens).permute(0, 2, 1)  # (batch, channels, time)
            x = F.relu(self.conv(x))
            x = F.max_pool1d(x, kernel_size=2)
            x = x.max(dim=2)[0]
            return F.log_softmax(self.fc(x), dim=-1)

    return TextCNN()


def text_cnn_step(torch, nn, F, optim, model, tokens, y):
    tokens, y = torch.tensor(tokens), torch.tensor(y)
    optimizer = optim.RMSprop(model.parameters(), lr=0.01)
    losses = []
    for _step in range(3):
        optimizer.zero_grad()
        log_probs = model(tokens)
        loss = F.nll_loss(log_probs, y, weight=torch.tensor([1.0, 2.0, 0.5]))
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return {"log_probs": log_probs.detach(), "losses": losses, "state": model.state_dict()}


def loss_zoo(torch, nn, F, optim, model, logits, labels, targets):
    z = torch.tensor(logits, requires_grad=True)  # (6, 4)
    labels, targets = torch.tensor(labels), torch.tensor(targets)
    values = {
        "ce_ignore": F.cross_entropy(z, labels, ignore_index=2),
        "ce_smooth_weight": F.cross_entropy(
            z, labels, weight=torch.tensor([1.0, 2.0, 0.5, 1.0]), label_smoothing=0.2
        ),
        "ce_none": F.cross_entropy(z, labels, reduction="none").sum(),
        "bce_pos_weight": F.binary_cross_entropy_with_logits(
            z, targets, pos_weight=torch.tensor([1.0, 3.0, 0.5, 2.0])
        ),
        "bce": nn.BCELoss()(torch.sigmoid(z), targets),
        "kl": F.kl_div(
            F.log_softmax(z, dim=1), F.softmax(targets * 3, dim=1), reduction="batchmean"
        ),
        "huber": nn.HuberLoss(delta=0.7)(z, targets),
        "mse_sum": F.mse_loss(z, targets, reduction="sum"),
        "nll": nn.NLLLoss()(F.log_softmax(z, dim=-1), labels),
    }
    total = sum(values.values())
    total.backward()
    return {"values": {k: v.item() for k, v in values.items()}, "grad": z.grad}


# ================================================================== data
RNG = np.random.default_rng(20240909)


def _blobs() -> dict[str, np.ndarray]:
    centres = np.array([[2, 0, 0, 0], [0, 2, 0, 0], [0, 0, 2, 0]], dtype=np.float32)
    y = RNG.integers(0, 3, size=64)
    X = centres[y] + 0.5 * RNG.standard_normal((64, 4)).astype(np.float32)
    return {"X": X.astype(np.float32), "y": y.astype(np.int64)}


def _linear_data() -> dict[str, np.ndarray]:
    X = RNG.standard_normal((32, 3)).astype(np.float32)
    y = (X @ np.array([[1.5], [-2.0], [0.5]], dtype=np.float32) + 0.3).astype(np.float32)
    return {"X": X, "y": y}


def _tokens() -> np.ndarray:
    tokens = RNG.integers(1, 11, size=(4, 6))
    tokens[1, 4:] = 0
    tokens[3, 2:] = 0
    return tokens.astype(np.int64)


def _digits() -> dict[str, np.ndarray]:
    """Three classes of 8x8 images: a bright quadrant (top-left, top-right, bottom) plus noise."""
    y = np.arange(12) % 3
    X = 0.3 * RNG.standard_normal((12, 1, 8, 8))
    regions = [(slice(0, 4), slice(0, 4)), (slice(0, 4), slice(4, 8)), (slice(4, 8), slice(None))]
    for i, label in enumerate(y):
        rows, cols = regions[label]
        X[i, 0, rows, cols] += 1.0
    return {"X": X.astype(np.float32), "y": y.astype(np.int64)}


DATA: dict[str, Callable[[], dict[str, np.ndarray]]] = {
    "blobs": _blobs,
    "linear": _linear_data,
    "sequences": lambda: {
        "X": RNG.standard_normal((3, 7, 5)).astype(np.float32),
        "y": np.array([0, 2, 1]),
    },
    "gru": lambda: {
        "X": RNG.standard_normal((2, 8, 4)).astype(np.float32),
        "y": RNG.standard_normal((2, 5)).astype(np.float32),
    },
    "tokens": lambda: {"tokens": _tokens(), "y": np.array([0, 1, 1, 0])},
    "images": lambda: {
        "X": RNG.standard_normal((2, 1, 8, 8)).astype(np.float32),
        "y": (RNG.random((2, 1, 8, 8)) > 0.5).astype(np.float32),
    },
    "bn": lambda: {
        "X": RNG.standard_normal((5, 2, 4, 4)).astype(np.float32),
        "y": RNG.standard_normal((5, 1)).astype(np.float32),
    },
    "bag": lambda: {
        "tokens": np.array([[3, 7, 7, 0, 0], [1, 2, 3, 4, 5], [9, 0, 0, 0, 0]], dtype=np.int64),
        "y": np.array([1.0, 0.0, 1.0], dtype=np.float32),
    },
    "manipulation": lambda: {
        "X": RNG.standard_normal((2, 3, 4)).astype(np.float32),
        "index": RNG.integers(0, 4, size=(2, 3, 2)).astype(np.int64),
    },
    "attention": lambda: {
        k: RNG.standard_normal((2, 2, 5, 4)).astype(np.float32) for k in ("Q", "K", "V")
    },
    "scratch": lambda: {
        "X": RNG.standard_normal((3, 4, 5)).astype(np.float32),
        "W": (0.4 * RNG.standard_normal((5, 4 * 6))).astype(np.float32),
        "U": (0.4 * RNG.standard_normal((4 * 6, 6))).astype(np.float32),
        "b": (0.1 * RNG.standard_normal(4 * 6)).astype(np.float32),
    },
    "mha": lambda: {
        "X": RNG.standard_normal((3, 5, 8)).astype(np.float32),
        "lengths": np.array([5, 3, 1], dtype=np.int64),
    },
    "digits": _digits,
    "text": lambda: {
        "tokens": RNG.integers(0, 12, size=(5, 8)).astype(np.int64),
        "y": np.array([0, 1, 2, 1, 0]),
    },
    "losses": lambda: {
        "logits": RNG.standard_normal((6, 4)).astype(np.float32),
        "labels": np.array([0, 2, 1, 3, 2, 0]),
        "targets": RNG.random((6, 4)).astype(np.float32),
    },
}
_DATA = {name: make() for name, make in DATA.items()}  # drawn once, in a fixed order


# ================================================================== facts under chainrule alone
def _decreasing(losses: list[float]) -> None:
    assert all(math.isfinite(v) for v in losses), losses
    assert losses[-1] < losses[0], losses


def _finite(*arrays: Any) -> None:
    for a in arrays:
        assert np.all(np.isfinite(np.asarray(a))), a


def check_classifier(out):
    _decreasing(out["losses"])
    assert out["accuracy"][-1] >= 0.9 and out["pred"].dtype == np.int64
    assert out["pred"].shape == (64,)


def check_manual_sgd(out):
    _decreasing(out["losses"])
    assert out["losses"][-1] < 0.2 * out["losses"][0]
    assert out["same_parameter"] is True and out["requires_grad"] is True
    assert out["grad_after_zero_grad"] is None  # zero_grad sets to None, as PyTorch >= 2.0


def check_lstm(out):
    assert out["out"].shape == (3, 7, 12)
    assert out["h_n"].shape == out["c_n"].shape == (4, 3, 6)
    assert len(out["grads"]) == 2 * 2 * 4 + 2
    _finite(out["out"], *out["grads"].values())
    # the last layer's forward direction ends at the last step, the backward one at the first
    np.testing.assert_allclose(out["h_n"][2], out["out"][:, -1, :6], rtol=1e-6)
    np.testing.assert_allclose(out["h_n"][3], out["out"][:, 0, 6:], rtol=1e-6)


def check_gru(out):
    _decreasing(out["losses"])
    assert [o.shape for o in out["outs"]] == [(2, 3, 5), (2, 3, 5), (2, 2, 5)]  # split sizes
    np.testing.assert_allclose(out["h_n"][0], out["outs"][-1][:, -1])


def check_transformer(out):
    assert out["hidden"].shape == (4, 6, 8) and math.isfinite(out["loss"])
    _finite(out["hidden"], *out["grads"].values())
    assert np.abs(out["grads"]["layer.self_attn.in_proj_weight"]).sum() > 0


def check_unet(out):
    _decreasing(out["losses"])
    assert out["logits"].shape == (2, 1, 8, 8)
    _finite(*out["grads"].values())


def check_batchnorm(out):
    state = out["state"]
    assert int(state["1.num_batches_tracked"]) == 3 and int(state["5.num_batches_tracked"]) == 3
    assert np.all(state["1.running_var"] > 0)
    assert not np.allclose(out["out_train"], out["out_eval"])  # batch vs running statistics
    np.testing.assert_allclose(out["out_eval_one"], out["out_eval"][:1], rtol=1e-5, atol=1e-6)


def check_adam_steplr(out):
    _decreasing(out["losses"])
    expected = [0.05, 0.025, 0.025, 0.0125, 0.0125, 0.00625]
    np.testing.assert_allclose([a for a, _ in out["lrs"]], expected)
    np.testing.assert_allclose([b for _, b in out["lrs"]], expected)


def check_bag(out):
    assert out["logits"].shape == (3,) and math.isfinite(out["loss"])
    np.testing.assert_array_equal(out["emb_grad"][0], 0.0)  # padding_idx gets no gradient
    assert np.abs(out["emb_grad"][7]).sum() > 0


def check_manipulation(out):
    data = _DATA["manipulation"]
    X, index = data["X"], data["index"]
    np.testing.assert_array_equal(out["picked"], np.take_along_axis(X, index, 2))
    np.testing.assert_array_equal(out["top_values"], -np.sort(-X, axis=-1)[..., :2])
    np.testing.assert_allclose(out["running"], np.cumsum(X, -1), rtol=1e-6)
    edited = X.copy()
    edited[:, 0] = edited[:, 1] * 2
    edited[edited < -1] = -1.0
    np.testing.assert_array_equal(out["edited"], edited)
    assert out["top_indices"].dtype == out["sorted_indices"].dtype == np.int64
    assert out["shapes"] == [[2, 12], [2, 1, 4, 3], [2, 3, 2]]  # tuples come back as lists
    assert out["grad"].shape == X.shape and out["grad"].dtype == np.float32


def check_attention(out):
    np.testing.assert_allclose(out["out"], out["out_mask"], rtol=1e-6, atol=1e-7)
    # the first query sees only the first key: its output is the first value
    np.testing.assert_allclose(out["out"][..., 0, :], _DATA["attention"]["V"][..., 0, :])
    _finite(*out["grads"], *out["accumulated"])


def check_regression(out):
    _decreasing(out["losses"])
    assert max(out["norms"]) > 0.5  # the clip had work to do
    for before, after in zip(out["norms"], out["clipped"]):
        assert after == pytest.approx(min(before, 0.5), rel=1e-4)


def check_scratch_lstm(out):
    """The hand-written cell is nn.LSTM with weight_ih = W.T, weight_hh = U, bias_ih = b."""
    data = _DATA["scratch"]
    lstm = chainrule.nn.LSTM(5, 6, batch_first=True)
    lstm.load_state_dict(
        {
            "weight_ih_l0": data["W"].T,
            "weight_hh_l0": data["U"],
            "bias_ih_l0": data["b"],
            "bias_hh_l0": np.zeros(24, np.float32),
        }
    )
    expected, _ = lstm(chainrule.tensor(data["X"]))
    np.testing.assert_allclose(out["out"], expected.numpy(), rtol=1e-5, atol=1e-6)
    assert [g.shape for g in out["grads"]] == [(5, 24), (24, 6), (24,)]
    _finite(*out["grads"])


def check_language_model(out):
    _decreasing(out["losses"])
    pe = out["pe"]
    assert pe.shape == (1, 16, 8) and pe.dtype == np.float32  # float32 kept through setitem
    np.testing.assert_allclose(pe[0, :, 0], np.sin(np.arange(16)), atol=1e-6)
    np.testing.assert_allclose(pe[0, :, 7], np.cos(np.arange(16) * 1e-4 ** (6 / 8)), atol=1e-6)
    assert "pos.pe" in out["state"]


def check_scratch_attention(out):
    np.testing.assert_allclose(out["out"], out["fused"], rtol=1e-5, atol=1e-6)
    _finite(*out["grads"])


def check_ema(out):
    _decreasing(out["losses"])
    for (name, p), e in zip(out["ema_state"].items(), out["ema"]):
        np.testing.assert_array_equal(p, e)
        assert not np.allclose(p, out["trained"][name])  # the average lags the weights


def check_mha(out):
    assert out["out"].shape == (3, 5, 8) and out["attn"].shape == (3, 5, 5)
    assert out["attn_heads"].shape == (3, 2, 5, 5)
    np.testing.assert_array_equal(out["attn"][2, :, 1:], 0.0)  # padded keys get no weight
    np.testing.assert_allclose(out["attn"].sum(-1), 1.0, rtol=1e-5)


def check_cnn(out):
    assert out["n_params"] == 4 * 9 + 4 + 4 + 6 * 4 * 9 + 6 + 6 + 6 + 6 * 3 + 3
    losses = out["losses"]
    assert all(math.isfinite(v) for v in losses) and sum(losses[-3:]) < sum(losses[:3])
    expected = [0.02 * (1 + math.cos(math.pi * t / 4)) / 2 for t in range(1, 5)]
    np.testing.assert_allclose(out["lrs"], expected, atol=1e-12)
    np.testing.assert_allclose(out["probs"].sum(1), 1.0, rtol=1e-5)
    assert out["pred"].dtype == np.int64


def check_optimizer_zoo(out):
    for column in zip(*out["losses"]):
        _decreasing(list(column))
    _finite(*out["state"].values())


def check_scheduler_zoo(out):
    lrs = np.array(out["lrs"])
    t = np.arange(1, 8)
    np.testing.assert_allclose(lrs[:, 0], 0.1 * 0.9**t)
    np.testing.assert_allclose(lrs[:, 1], 0.1 * (0.25 + 0.75 * np.minimum(t, 4) / 4))
    assert 0.5 < lrs[:, 2].max() <= 1.0 and lrs[-1, 2] < 0.01  # one cycle: up, then down
    np.testing.assert_allclose(
        lrs[:5, 3], 0.01 + 0.09 * (1 + np.cos(np.pi * t[:5] / 5)) / 2, rtol=1e-12
    )
    np.testing.assert_allclose(lrs[:, 4], 0.1 * 0.1 ** (t // 3))
    np.testing.assert_allclose(out["plateau_lrs"], [0.1, 0.1, 0.05, 0.05, 0.025, 0.025, 0.0125])


def check_old_style_sgd(out):
    _decreasing(out["losses"])
    assert out["n_trainable"] == 2 and out["first_grad"] is None
    assert out["frozen_unchanged"] is True


def check_text_cnn(out):
    _decreasing(out["losses"])
    assert out["log_probs"].shape == (5, 3)
    np.testing.assert_allclose(np.exp(out["log_probs"]).sum(1), 1.0, rtol=1e-5)


def check_loss_zoo(out):
    data = _DATA["losses"]
    z, labels = data["logits"].astype(np.float64), data["labels"]
    log_p = z - np.log(np.exp(z).sum(1, keepdims=True))
    keep = labels != 2
    expected = -log_p[np.arange(6), labels][keep].mean()
    assert out["values"]["ce_ignore"] == pytest.approx(expected, rel=1e-5)
    assert out["values"]["nll"] == pytest.approx(-log_p[np.arange(6), labels].mean(), rel=1e-5)
    _finite(out["grad"])


# ================================================================== the harness
@dataclass(frozen=True)
class Case:
    name: str
    build: Callable
    snippet: Callable
    data: str
    check: Callable
    rtol: float = 1e-4
    atol: float = 1e-5


CASES = [
    Case("classifier_loop", build_classifier, classifier_loop, "blobs", check_classifier),
    Case("manual_sgd", build_linear, manual_sgd, "linear", check_manual_sgd),
    Case("lstm_step", build_lstm, lstm_step, "sequences", check_lstm),
    Case("gru_step", build_gru, gru_step, "gru", check_gru),
    Case("transformer_step", build_transformer, transformer_step, "tokens", check_transformer),
    Case("unet_step", build_unet_block, unet_step, "images", check_unet),
    Case("batchnorm_train_eval", build_batchnorm, batchnorm_train_eval, "bn", check_batchnorm),
    Case("adam_steplr", build_mlp_regressor, adam_steplr, "linear", check_adam_steplr),
    Case("embedding_bag_step", build_bag_of_embeddings, embedding_bag_step, "bag", check_bag),
    Case(
        "tensor_manipulation",
        build_nothing,
        tensor_manipulation,
        "manipulation",
        check_manipulation,
    ),
    Case("causal_attention", build_nothing, causal_attention, "attention", check_attention),
    Case("regression_clip", build_mlp_regressor, regression_clip, "linear", check_regression),
    Case("scratch_lstm_cell", build_nothing, scratch_lstm_cell, "scratch", check_scratch_lstm),
    Case("cnn_classifier", build_cnn, cnn_classifier, "digits", check_cnn),
    Case("optimizer_zoo", build_twins, optimizer_zoo, "linear", check_optimizer_zoo),
    Case("scheduler_zoo", build_linear, scheduler_zoo, "linear", check_scheduler_zoo),
    Case("old_style_sgd", build_frozen, old_style_sgd, "linear", check_old_style_sgd),
    Case("text_cnn_step", build_text_cnn, text_cnn_step, "text", check_text_cnn),
    Case("loss_zoo", build_nothing, loss_zoo, "losses", check_loss_zoo),
    Case(
        "language_model_step",
        build_positional_transformer,
        language_model_step,
        "tokens",
        check_language_model,
    ),
    Case(
        "scratch_attention", build_nothing, scratch_attention, "attention", check_scratch_attention
    ),
    Case("ema_training", build_ema_model, ema_training, "blobs", check_ema),
    Case("multihead_attention", build_attention_block, multihead_attention, "mha", check_mha),
]


def _plain(value: Any) -> Any:
    """A snippet's result with every tensor of either library turned into a NumPy array."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "detach"):  # a Tensor of chainrule or PyTorch
        return np.array(value.detach().cpu().numpy(), copy=True)
    if isinstance(value, np.ndarray):
        return value.copy()
    return value


def _run(ns: SimpleNamespace, case: Case, model: Any = None) -> Any:
    if model is None:
        model = case.build(ns.torch, ns.nn, ns.F)
    data = copy.deepcopy(_DATA[case.data])  # from_numpy shares memory: each run its own copy
    return _plain(case.snippet(ns.torch, ns.nn, ns.F, ns.optim, model, **data))


def _same(ours: Any, theirs: Any, case: Case, where: str) -> None:
    if isinstance(theirs, dict):
        assert list(ours) == list(theirs), f"{where}: keys {list(ours)} vs {list(theirs)}"
        for k in theirs:
            _same(ours[k], theirs[k], case, f"{where}[{k!r}]")
    elif isinstance(theirs, list):
        assert len(ours) == len(theirs), f"{where}: length {len(ours)} vs {len(theirs)}"
        for i, (a, b) in enumerate(zip(ours, theirs)):
            _same(a, b, case, f"{where}[{i}]")
    elif isinstance(theirs, np.ndarray):
        assert isinstance(ours, np.ndarray), f"{where}: {type(ours)} vs an array"
        assert ours.shape == theirs.shape, f"{where}: shape {ours.shape} vs {theirs.shape}"
        assert ours.dtype == theirs.dtype, f"{where}: dtype {ours.dtype} vs {theirs.dtype}"
        np.testing.assert_allclose(ours, theirs, rtol=case.rtol, atol=case.atol, err_msg=where)
    elif isinstance(theirs, float):
        assert isinstance(ours, float), f"{where}: {type(ours)} vs float"
        assert ours == pytest.approx(theirs, rel=case.rtol, abs=case.atol), where
    else:  # bool, int, None, shapes
        assert type(ours) is type(theirs) and ours == theirs, f"{where}: {ours!r} vs {theirs!r}"


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_snippet_runs_under_chainrule(case: Case) -> None:
    chainrule.manual_seed(0)
    case.check(_run(CHAINRULE, case))


@needs_torch
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_snippet_matches_pytorch(case: Case) -> None:
    _torch.manual_seed(0)
    theirs_model = case.build(PYTORCH.torch, PYTORCH.nn, PYTORCH.F)
    ours_model = case.build(CHAINRULE.torch, CHAINRULE.nn, CHAINRULE.F)
    if theirs_model is not None:
        theirs_state = theirs_model.state_dict()
        assert list(ours_model.state_dict()) == list(theirs_state)  # names map one to one
        ours_model.load_state_dict({k: v.numpy().copy() for k, v in theirs_state.items()})
    theirs = _run(PYTORCH, case, theirs_model)
    ours = _run(CHAINRULE, case, ours_model)
    case.check(ours)
    _same(ours, theirs, case, case.name)


@needs_torch
def test_a_pytorch_state_dict_loads_as_it_is() -> None:
    """``load_state_dict(torch_model.state_dict())``: PyTorch tensors, not NumPy arrays."""
    _torch.manual_seed(0)
    theirs = build_lstm(PYTORCH.torch, PYTORCH.nn, PYTORCH.F)
    ours = build_lstm(CHAINRULE.torch, CHAINRULE.nn, CHAINRULE.F)
    ours.load_state_dict(theirs.state_dict())
    for (name, a), (name_b, b) in zip(ours.state_dict().items(), theirs.state_dict().items()):
        assert name == name_b
        np.testing.assert_array_equal(a, b.numpy())


def test_the_comparison_notices_a_different_number() -> None:
    """The harness is not vacuous: a result off by more than the tolerance fails it."""
    case = CASES[1]  # manual_sgd
    ours = _run(CHAINRULE, case)
    _same(ours, copy.deepcopy(ours), case, case.name)
    changed = copy.deepcopy(ours)
    changed["state"]["bias"] = changed["state"]["bias"] + 1e-3
    with pytest.raises(AssertionError, match=r"manual_sgd\['state'\]\['bias'\]"):
        _same(ours, changed, case, case.name)
    changed = copy.deepcopy(ours)
    changed["state"]["weight"] = changed["state"]["weight"].astype(np.float64)
    with pytest.raises(AssertionError, match="dtype float32 vs float64"):
        _same(ours, changed, case, case.name)
    with pytest.raises(AssertionError, match="None"):
        _same({"g": np.zeros(1, np.float32)}, {"g": None}, case, "g")


# ------------------------------------------- what the snippets found missing or wrong, pinned
SPLITS = [(3, 1, None), ([2, 6], 1, None), (2, 0, None), (1, -1, None), (4, 1, "chunk")]


@pytest.mark.parametrize(("size", "dim", "how"), SPLITS)
def test_split_with_a_dim_is_pytorchs(size: Any, dim: int, how: str | None) -> None:
    """torch.split takes piece sizes; with ``dim=`` chainrule did NumPy's section counts (a
    silently different list of pieces, or an error)."""
    a = np.arange(32.0).reshape(4, 8)
    if how == "chunk":
        pieces = chainrule.tensor(a).chunk(size, dim=dim)
        expected = np.split(a, [2, 4, 6], axis=dim)
    else:
        pieces = chainrule.split(chainrule.tensor(a), size, dim=dim)
        if isinstance(size, int):
            cuts = list(range(size, a.shape[dim], size))
        else:
            cuts = list(np.cumsum(size)[:-1])
        expected = np.split(a, cuts, axis=dim)
        method_pieces = chainrule.tensor(a).split(size, dim)
        assert [p.shape for p in method_pieces] == [e.shape for e in expected]
    assert isinstance(pieces, tuple) and len(pieces) == len(expected)
    for p, e in zip(pieces, expected):
        np.testing.assert_array_equal(p.numpy(), e)
    if _torch is not None:
        t = _torch.from_numpy(a)
        theirs = t.chunk(size, dim=dim) if how == "chunk" else _torch.split(t, size, dim=dim)
        assert [tuple(p.shape) for p in theirs] == [p.shape for p in pieces]


def test_split_keeps_numpys_meaning_without_dim_and_refuses_bad_sizes() -> None:
    a = np.arange(8.0)
    assert [p.shape for p in chainrule.split(chainrule.tensor(a), 2)] == [(4,), (4,)]
    assert [p.shape for p in chainrule.split(chainrule.tensor(a), [3], axis=0)] == [(3,), (5,)]
    assert [p.shape for p in chainrule.tensor(a).split(2, axis=0)] == [(4,), (4,)]
    with pytest.raises(ValueError, match=r"split: section sizes \[3, 3\] must .* sum to .* 8"):
        chainrule.tensor(a).split([3, 3])
    with pytest.raises(ValueError, match="split: split_size must be a positive int, got 0"):
        chainrule.tensor(a).split(0)
    with pytest.raises(IndexError, match=r"split: dim 1 is out of range .* shape \(8,\)"):
        chainrule.tensor(a).split(2, dim=1)
    with pytest.raises(ValueError, match="chunk: chunks must be a positive int"):
        chainrule.tensor(a).chunk(0)


def test_split_chunk_unbind_gradients() -> None:
    a = np.random.default_rng(3).standard_normal((3, 5))
    gradcheck(lambda x: x.split(2, dim=1)[1] * x.split([1, 2], dim=0)[0][:, :2], a)
    gradgradcheck(lambda x: x.chunk(2, dim=1)[0] ** 2, a)
    gradcheck(lambda x: x.unbind(1)[3] * x.unbind(0)[2][1], a)
    gradgradcheck(lambda x: chainrule.stack([r**3 for r in x.unbind(0)]), a)
    rows = chainrule.tensor(a).unbind(0)
    assert len(rows) == 3 and rows[1].shape == (5,)
    np.testing.assert_array_equal(rows[1].numpy(), a[1])


def test_pytorch_method_spellings_added_for_the_snippets() -> None:
    rng = np.random.default_rng(4)
    a, b = rng.standard_normal((2, 3)), rng.standard_normal((3, 4))
    x = chainrule.tensor(a)
    np.testing.assert_allclose(x.pow(3).numpy(), a**3)
    np.testing.assert_allclose(x.neg().numpy(), -a)
    np.testing.assert_allclose(x.add(x, alpha=2).numpy(), 3 * a)
    np.testing.assert_allclose(x.sub(1.0, alpha=0.5).numpy(), a - 0.5)
    np.testing.assert_allclose(x.mul(x).numpy(), a * a)
    np.testing.assert_allclose(x.mm(chainrule.tensor(b)).numpy(), a @ b)
    np.testing.assert_allclose(x.matmul(chainrule.tensor(b)).numpy(), a @ b)
    batch = rng.standard_normal((2, 3, 3))
    np.testing.assert_allclose(
        chainrule.tensor(batch).bmm(chainrule.tensor(batch)).numpy(), batch @ batch
    )
    np.testing.assert_array_equal(x.t().numpy(), a.T)
    assert chainrule.ones(3).t().shape == (3,)
    for name, op in [("eq", np.equal), ("ne", np.not_equal), ("gt", np.greater),
                     ("ge", np.greater_equal), ("lt", np.less), ("le", np.less_equal)]:  # fmt: skip
        np.testing.assert_array_equal(getattr(x, name)(a[0, 1]).numpy(), op(a, a[0, 1]))
    assert chainrule.ones(1, 3).expand_as(x).shape == (2, 3)
    assert x.view_as(chainrule.zeros(3, 2)).shape == (3, 2)
    np.testing.assert_array_equal(x.reshape_as(chainrule.zeros(6)).numpy(), a.reshape(6))
    gradcheck(lambda t: t.pow(3).t().mm(t) + t.neg().t().add(t.t(), alpha=2).mul(t.t()).sum(), a)
    gradgradcheck(lambda t: t.pow(3).mm(t.t()), a)
    with pytest.raises(ValueError, match=r"mm: expects two 2-d tensors, got shapes \(2, 3\)"):
        x.mm(chainrule.ones(2, 3, 4))
    with pytest.raises(ValueError, match=r"bmm: expects two 3-d tensors"):
        x.bmm(x)
    with pytest.raises(ValueError, match=r"t: expects a tensor of at most 2 dims"):
        chainrule.ones(2, 2, 2).t()


def test_pytorch_function_spellings_added_for_the_snippets() -> None:
    rng = np.random.default_rng(5)
    a = rng.standard_normal((4, 3))
    x = chainrule.tensor(a)
    pieces = chainrule.chunk(x, 3)
    assert [p.shape for p in pieces] == [(2, 3), (2, 3)]  # ceil(4 / 3) rows each
    np.testing.assert_array_equal(chainrule.unbind(x, 1)[2].numpy(), a[:, 2])
    np.testing.assert_allclose(chainrule.mm(x, x.t()).numpy(), a @ a.T)
    np.testing.assert_allclose(chainrule.bmm(x[None], x.t()[None]).numpy(), (a @ a.T)[None])
    np.testing.assert_array_equal(chainrule.clamp(x, -0.5, 0.5).numpy(), np.clip(a, -0.5, 0.5))
    np.testing.assert_allclose(chainrule.pow(x, 2).numpy(), a**2)
    assert chainrule.flatten(chainrule.ones(2, 3, 4), 1).shape == (2, 12)
    assert chainrule.numel(x) == 12
    assert chainrule.is_tensor(x) and not chainrule.is_tensor(a)
    assert "pow" not in chainrule.__all__  # `from chainrule import *` keeps the builtin pow
    gradcheck(lambda t: chainrule.mm(chainrule.clamp(t, -1, 1), chainrule.pow(t, 2).t()), a)
    gradgradcheck(lambda t: chainrule.chunk(t, 2, dim=1)[0] * chainrule.unbind(t)[1][:2], a)
    with pytest.raises(ValueError, match=r"mm: expects two 2-d tensors, got shapes \(3,\)"):
        chainrule.mm(chainrule.ones(3), x)
    if _torch is not None:
        t = _torch.from_numpy(a)
        assert [tuple(p.shape) for p in _torch.chunk(t, 3)] == [p.shape for p in pieces]


def test_item_assignment() -> None:
    """``x[index] = value`` (it raised TypeError): in place under no_grad, recorded otherwise."""
    rng = np.random.default_rng(6)
    a = rng.standard_normal((3, 4))

    def assign(t: Any) -> Any:
        y = t * 1
        y[:, 1::2] = t[:, :2] ** 2
        y[y.detach() > 1.0] = 0.5
        y[[0, 2], 0] = t[1, 1:3] * 3
        return y

    expected = a.copy()
    expected[:, 1::2] = a[:, :2] ** 2
    expected[expected > 1.0] = 0.5
    expected[[0, 2], 0] = a[1, 1:3] * 3
    np.testing.assert_allclose(assign(chainrule.tensor(a)).numpy(), expected)
    gradcheck(assign, a)
    gradgradcheck(assign, a)
    if _torch is not None:
        t = _torch.tensor(a, requires_grad=True)
        ours = chainrule.tensor(a, requires_grad=True)
        w = rng.standard_normal((3, 4))
        (assign(t) * _torch.from_numpy(w)).sum().backward()
        (assign(ours) * w).sum().backward()
        np.testing.assert_allclose(ours.grad.numpy(), t.grad.numpy(), rtol=1e-12)

    weight = chainrule.tensor(np.ones(3, np.float32), requires_grad=True)
    with pytest.raises(RuntimeError, match=r"setitem: a leaf tensor that requires grad"):
        weight[0] = 5.0
    data = weight.data
    with chainrule.no_grad():
        weight[1:] = np.array([2.0, 3.0])  # float64 written into float32, in place
    assert weight.data is data and weight.dtype == np.float32 and weight.requires_grad
    np.testing.assert_array_equal(weight.numpy(), [1.0, 2.0, 3.0])
    y = weight * 1
    with pytest.raises(IndexError, match="setitem: the index names an element .* more than once"):
        y[[0, 0]] = chainrule.tensor([1.0, 2.0])
    with pytest.raises(ValueError, match=r"setitem: cannot update a tensor of shape \(3,\)"):
        chainrule.zeros(3)[:] = chainrule.ones(2)


def test_norm_takes_p_and_flip_takes_dims() -> None:
    """``x.norm(p=2, dim=1)`` and ``torch.flip(x, dims=[...])`` raised TypeError."""
    a = np.random.default_rng(7).standard_normal((3, 4))
    x = chainrule.tensor(a)
    np.testing.assert_allclose(x.norm(p=2, dim=1).numpy(), np.linalg.norm(a, axis=1))
    np.testing.assert_allclose(x.norm(p=1, dim=0, keepdim=True).numpy(), np.abs(a).sum(0)[None])
    assert x.norm(p="fro").item() == pytest.approx(np.linalg.norm(a))
    np.testing.assert_allclose(
        chainrule.norm(x, p=3, dim=1).numpy(), (np.abs(a) ** 3).sum(1) ** (1 / 3)
    )
    np.testing.assert_array_equal(chainrule.flip(x, dims=[0, 1]).numpy(), a[::-1, ::-1])
    np.testing.assert_array_equal(x.flip(0, 1).numpy(), a[::-1, ::-1])
    np.testing.assert_array_equal(x.flip(dims=(1,)).numpy(), a[:, ::-1])
    np.testing.assert_array_equal(x.flip(1).numpy(), a[:, ::-1])
    gradcheck(lambda t: t.norm(p=3, dim=1) * t.flip(0, 1)[:, 0], a)
    gradgradcheck(lambda t: t.norm(p=2, dim=0) + chainrule.flip(t, dims=[0]).sum(0), a)
    with pytest.raises(TypeError, match="norm: got p= and an order"):
        x.norm(2, p=1)
    with pytest.raises(TypeError, match="flip: got dims= and an axis"):
        x.flip(0, dims=[1])
    if _torch is not None:
        t = _torch.from_numpy(a)
        np.testing.assert_allclose(x.norm(p=2, dim=1).numpy(), t.norm(p=2, dim=1).numpy())
        np.testing.assert_array_equal(x.flip(0, 1).numpy(), t.flip(0, 1).numpy())


def test_copy_masked_fill_normal_uniform_in_place() -> None:
    """``p.copy_(e)``, ``x.masked_fill_(m, v)``, ``w.normal_(0, 0.02)`` raised AttributeError."""
    a = np.random.default_rng(8).standard_normal((3, 4))
    w = chainrule.tensor(np.zeros((3, 4), np.float32), requires_grad=True)
    data = w.data
    with chainrule.no_grad():
        w.copy_(a)  # float64 values into a float32 parameter
        np.testing.assert_allclose(w.numpy(), a.astype(np.float32))
        w.masked_fill_(w < 0, 0.0)
        np.testing.assert_allclose(w.numpy(), np.maximum(a, 0).astype(np.float32))
        w.normal_(3.0, 0.5, generator=np.random.default_rng(0))
        expected = np.random.default_rng(0).normal(3.0, 0.5, (3, 4)).astype(np.float32)
        np.testing.assert_array_equal(w.numpy(), expected)
        w.uniform_(-2.0, -1.0)
        assert ((w.numpy() >= -2.0) & (w.numpy() < -1.0)).all()
    assert w.data is data and w.dtype == np.float32 and w.requires_grad
    for call in (lambda: w.copy_(a), lambda: w.masked_fill_(w > 0, 1.0), lambda: w.normal_()):
        with pytest.raises(RuntimeError, match="a leaf tensor that requires grad"):
            call()
    with pytest.raises(TypeError, match="uniform_: expects a floating tensor, got dtype int64"):
        chainrule.tensor([1, 2]).uniform_()

    def recorded(t: Any) -> Any:
        y = t * 2
        y.masked_fill_(y.detach() > 1.0, 0.25)
        z = chainrule.zeros(2, 3, 4, dtype=chainrule.float64)
        z.copy_(y**2)
        return z

    expected = np.where(2 * a > 1.0, 0.25, 2 * a) ** 2
    np.testing.assert_allclose(
        recorded(chainrule.tensor(a)).numpy(), np.broadcast_to(expected, (2, 3, 4))
    )
    gradcheck(recorded, a)
    gradgradcheck(recorded, a)
    value = chainrule.tensor(5.0, dtype=chainrule.float64, requires_grad=True)
    filled = chainrule.tensor(a).masked_fill_(chainrule.tensor(a > 0), value)
    (filled * 3).sum().backward()
    assert value.grad.item() == pytest.approx(3.0 * (a > 0).sum())


def test_one_hot() -> None:
    labels = np.array([[0, 3], [1, 1]])
    out = chainrule.nn.functional.one_hot(chainrule.tensor(labels))
    assert out.dtype == np.int64 and out.shape == (2, 2, 4) and not out.requires_grad
    np.testing.assert_array_equal(out.numpy(), np.eye(4, dtype=np.int64)[labels])
    assert chainrule.nn.functional.one_hot(chainrule.tensor(labels), 6).shape == (2, 2, 6)
    with pytest.raises(ValueError, match=r"one_hot: labels must lie in \[0, 3\), got .* to 3"):
        chainrule.nn.functional.one_hot(chainrule.tensor(labels), 3)
    with pytest.raises(TypeError, match="one_hot: expects integer class labels, got dtype float"):
        chainrule.nn.functional.one_hot(chainrule.tensor([1.0]))
    if _torch is not None:
        theirs = _torch.nn.functional.one_hot(_torch.from_numpy(labels), 6).numpy()
        np.testing.assert_array_equal(
            chainrule.nn.functional.one_hot(chainrule.tensor(labels), 6).numpy(), theirs
        )

"""Modal dialogs shared by the screens: confirmation, forms, errors."""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, Label, Select, SelectionList, Static


class ConfirmScreen(ModalScreen[bool]):
    """Yes/no; ``y`` and ``n`` answer, Esc is no."""

    BINDINGS = [
        Binding("y", "answer(True)", "Yes"),
        Binding("n,escape", "answer(False)", "No"),
    ]

    def __init__(self, question: str, danger: bool = False) -> None:
        super().__init__()
        self.question = question
        self.danger = danger

    def compose(self) -> ComposeResult:
        with Grid(id="confirm-dialog", classes="dialog -danger" if self.danger else "dialog"):
            yield Label(self.question, id="confirm-question")
            yield Button("Yes (y)", variant="error" if self.danger else "primary", id="yes")
            yield Button("No (n)", id="no")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, answer: bool) -> None:
        self.dismiss(answer)


class ErrorScreen(ModalScreen[None]):
    """An unexpected failure, with its text selectable and ``c`` copying all of it."""

    BINDINGS = [
        Binding("escape,enter", "dismiss", "Close"),
        Binding("c", "copy", "Copy"),
    ]

    def __init__(self, title: str, text: str) -> None:
        super().__init__()
        self.title_text = title
        self.text = text

    def compose(self) -> ComposeResult:
        with Vertical(id="error-dialog", classes="dialog -danger"):
            yield Label(self.title_text, id="error-title")
            with VerticalScroll(id="error-scroll"):  # a long message scrolls; Close stays
                # Not markup: the text quotes an exception, whose brackets are not Rich's.
                yield Static(self.text, id="error-text", markup=False)
            yield Button("Close", id="close")

    def on_button_pressed(self, _: Button.Pressed) -> None:
        self.dismiss()

    def action_copy(self) -> None:
        self.app.copy_to_clipboard(f"{self.title_text}\n{self.text}")
        self.notify("Copied the error's text to the clipboard.")


class FormScreen(ModalScreen[dict[str, Any] | None]):
    """A small form: fields are (id, label, widget); Enter on the last field or OK submits."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, title: str, fields: list[tuple[str, str, Any]]) -> None:
        super().__init__()
        self.form_title = title
        self.fields = fields

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog form"):
            yield Label(self.form_title, classes="form-title")
            for field_id, label, widget in self.fields:
                yield Label(label, classes="form-label")
                widget.id = field_id
                yield widget
            yield Label("", id="form-error")
            yield Button("OK", variant="primary", id="ok")

    def values(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for field_id, _, _ in self.fields:
            widget = self.query_one(f"#{field_id}")
            if isinstance(widget, Input | Select | Checkbox):
                out[field_id] = widget.value
            elif isinstance(widget, SelectionList):
                out[field_id] = list(widget.selected)
        return out

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "ok":
            self.dismiss(self.values())

    def on_input_submitted(self, _: Input.Submitted) -> None:
        self.dismiss(self.values())

    def action_cancel(self) -> None:
        self.dismiss(None)

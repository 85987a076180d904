from __future__ import annotations

from pydantic import Field

from kit.http.schemas import Page, RequestModel, ResponseModel

from .models import SopDefinition


class SopUpload(RequestModel):
    # No max_length: the loader refuses an oversized definition itself, as a problem naming
    # the limit like every other, and the node's body limit bounds what is read at all.
    source: str = Field(
        min_length=1, description="The definition, YAML, at most 256 KiB in UTF-8, no anchors."
    )


class SopSummary(ResponseModel):
    ref: str = Field(examples=["avrr-joint@2.1.0"], description="`id@version`")
    title: str

    @classmethod
    def from_row(cls, row: SopDefinition) -> SopSummary:
        return cls(ref=f"{row.id}@{row.version}", title=row.title)


class SopPage(Page[SopSummary]):
    pass

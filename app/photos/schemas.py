from datetime import datetime

from pydantic import BaseModel, Field

from app.models import Photo, PhotoStage


class ExifPosition(BaseModel):
    longitude: float
    latitude: float


class PhotoRead(BaseModel):
    id: int
    sha256: str = Field(description="SHA-256 of the bytes as uploaded")
    width: int
    height: int
    content_type: str
    taken_at: datetime | None = Field(description="from the photo's EXIF, in UTC")
    exif_position: ExifPosition | None = Field(description="from the photo's EXIF GPS")
    stage: PhotoStage | None = Field(
        default=None, description="maintenance photos: before or after the work"
    )
    url: str
    thumbnail_url: str

    @classmethod
    def of(cls, photo: Photo) -> "PhotoRead":
        position = None
        if photo.exif_longitude is not None and photo.exif_latitude is not None:
            position = ExifPosition(longitude=photo.exif_longitude, latitude=photo.exif_latitude)
        return cls(
            id=photo.id,  # type: ignore[arg-type]
            sha256=photo.sha256,
            width=photo.width,
            height=photo.height,
            content_type=photo.content_type,
            taken_at=photo.taken_at,
            exif_position=position,
            stage=photo.stage,
            url=f"/api/v1/photos/{photo.id}",
            thumbnail_url=f"/api/v1/photos/{photo.id}/thumbnail",
        )

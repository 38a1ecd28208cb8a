from __future__ import annotations

from fastapi import APIRouter, Depends
from sqlmodel import Session, col, select

from dispatch.auth.deps import STAFF, get_session, require
from dispatch.departments.models import Department, DepartmentIn, DepartmentOut
from dispatch.errors import Conflict

router = APIRouter(prefix="/api/departments", tags=["departments"])


@router.post("", status_code=201, response_model=DepartmentOut, dependencies=[Depends(require())])
def create_department(body: DepartmentIn, session: Session = Depends(get_session)) -> Department:
    if session.exec(select(Department).where(Department.name == body.name)).first():
        raise Conflict("department_exists", "部门已存在", "A department with that name exists")
    dept = Department(**body.model_dump())
    session.add(dept)
    session.commit()
    return dept


@router.get("", response_model=list[DepartmentOut], dependencies=[Depends(require(*STAFF))])
def list_departments(session: Session = Depends(get_session)) -> list:
    return list(session.exec(select(Department).order_by(col(Department.id))).all())

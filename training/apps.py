from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class TrainingConfig(AppConfig):
    name = "training"
    verbose_name = _("Training")

    def ready(self) -> None:
        from core.audit_registry import register_app_actions

        register_app_actions(self)  # training/audit_actions.py
        from tenants.demo import register_demo_seeder
        from tenants.landing import register_landing
        from tenants.models import Role
        from tenants.roles import grant_permissions
        from tenants.signals import tenant_change
        from training.starter import seed_demo_training, seed_new_tenant

        # Every new tenant starts with the starter courses and pledge; so does the demo.
        tenant_change.connect(seed_new_tenant, dispatch_uid="training.starter")
        # Enrolments (issue 19, point 5): a role given enrols, a role taken away withdraws;
        # reminders and escalations are back-office notifications of training's own kinds.
        from training.enrolments import on_tenant_change
        from training.reminders import register_kinds

        tenant_change.connect(on_tenant_change, dispatch_uid="training.enrolments")
        register_kinds()
        register_demo_seeder(seed_demo_training)
        # The reveal gate's cached decisions end with a course, a version or a pledge.
        from django.db.models.signals import post_save

        from training.gates import bump_on_save
        from training.models import Course, CourseVersion, StaffPledge

        for model in (Course, CourseVersion, StaffPledge):
            post_save.connect(
                bump_on_save, sender=model, dispatch_uid=f"training.gate.{model.__name__}"
            )
        # "My training" in every staff role's sidebar (riders: a link on the rider page),
        # after the role's own work pages: never where a role lands.
        for role in Role:
            if role != Role.RIDER:
                register_landing(role, "training:home", _("My training"), "school", last=True)
        for role in (Role.TENANT_ADMIN, Role.SUPERVISOR):
            grant_permissions(
                role,
                "training.view_course",
                "training.view_courseversion",
                "training.view_quizattempt",
                "training.view_staffpledge",
                "training.view_pledgesignature",
                "training.view_lessonimage",
                "training.view_enrolment",
            )
        grant_permissions(Role.TENANT_ADMIN, "training.add_staffpledge")
        # Course authoring (issue 19, point 1; training.course_admin): the services check
        # the tenant administrator's role again.
        grant_permissions(Role.TENANT_ADMIN, "training.add_course", "training.add_lessonimage")
        # Drills (issue 19, point 6): the back office's list for those who handle them;
        # training.drills checks the roles again on every write.
        from training.drills import DRILL_MANAGERS

        for role in DRILL_MANAGERS:
            grant_permissions(role, "training.view_drill", "training.add_drill")
        # Coverage (issue 19, point 7): a page for those who supervise training, and the
        # supervisor dashboard's panel (audits.panels: audits never imports training).
        from audits.panels import register_panel
        from training.coverage import COVERAGE_VIEWERS
        from training.coverage_views import coverage_panel

        for role in COVERAGE_VIEWERS:
            register_landing(role, "training:coverage", _("Training coverage"), "monitoring")
        register_panel(
            "training.coverage",
            title=_("Training coverage"),
            roles=COVERAGE_VIEWERS,
            order=50,
            template="training/panels/coverage.html",
            context=coverage_panel,
        )
        # Inspection checklist items (issue 20, point 3; audits.checklists).
        from training.checklist import register as register_checklist

        register_checklist()

        # evidence (issue 20): the evidence pack's training section (training/evidence.py).
        from training.evidence import register as register_evidence

        register_evidence()
        # The supervisor dashboard's compliance summary (issue 20): §7.1.2 pledges and
        # §7.2 training coverage (training.supervision).
        from training import supervision

        supervision.register()

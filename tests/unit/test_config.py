from gitops_operator.config import DEFAULT_SERVICE_ACCOUNT, Settings


def test_isolated_by_default_the_operator_lends_its_identity_to_no_application():
    settings = Settings.from_env({})
    assert settings.default_service_account == DEFAULT_SERVICE_ACCOUNT == "gitops-reconciler"
    assert settings.no_cross_namespace_refs is True


def test_the_permissive_mode_is_explicit():
    settings = Settings.from_env(
        {"GITOPS_DEFAULT_SERVICE_ACCOUNT": "", "GITOPS_NO_CROSS_NAMESPACE_REFS": "false"}
    )
    assert settings.default_service_account == ""
    assert settings.no_cross_namespace_refs is False
    assert Settings.from_env({"GITOPS_NO_CROSS_NAMESPACE_REFS": ""}).no_cross_namespace_refs
    assert Settings.from_env({"GITOPS_DEFAULT_SERVICE_ACCOUNT": "ci"}).default_service_account == (
        "ci"
    )
